package audit_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

var h0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// noSecret fails when out holds any secret of the fixture, in the clear or in base64.
func noSecret(t *testing.T, what string, out []byte) {
	t.Helper()
	for _, s := range []string{secretPasswordHash, "SECRETPASSWORDHASH", secretBackupHash, "BACKUPCODEHASH", string(secretTOTP), base64.StdEncoding.EncodeToString(secretTOTP)} {
		if strings.Contains(string(out), s) {
			t.Fatalf("%s holds the secret %q:\n%s", what, s, out)
		}
	}
}

func TestReplayTimelineStateAtAndLogHoldNoSecret(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 3)
	ctx := ctxT(t)
	r := audit.NewReader(h.store, h.db)

	acct, err := r.Replay(ctx, domain.AccountStream(h.account))
	if err != nil || len(acct) != 7 { // registered, linked, mfa on, codes, 3 × challenged
		t.Fatalf("replay: %d events, %v", len(acct), err)
	}
	tl, err := r.Timeline(ctx, h.account)
	if err != nil {
		t.Fatal(err)
	}
	// account (4 + 3 challenged) + device (1) + 3 challenges × 2 events
	if len(tl) != 14 {
		t.Fatalf("timeline has %d events", len(tl))
	}
	for i := 1; i < len(tl); i++ {
		if tl[i].Position <= tl[i-1].Position {
			t.Fatalf("timeline out of order at %d", i)
		}
	}
	want := []string{"account registered with email ada@example.com; password set", "registered its public key", "TOTP secret for this account set (sealed, not shown)",
		"backup codes issued", "approved by device"}
	all, _ := json.Marshal(tl)
	for _, w := range want {
		if !strings.Contains(string(all), w) {
			t.Errorf("timeline lacks %q", w)
		}
	}
	noSecret(t, "timeline", all)
	rp, _ := json.Marshal(acct)
	noSecret(t, "replay", rp)

	logv, err := r.Log(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	lj, _ := json.Marshal(logv)
	noSecret(t, "log", lj)
	if !strings.Contains(string(lj), audit.Redacted) {
		t.Fatal("the log shows no redaction")
	}

	// The state before the device was linked, and after everything.
	before, err := r.StateAt(ctx, h.account, audit.Bound{Position: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Account.Devices) != 0 || before.Account.MFAEnabled || before.Position != 2 {
		t.Fatalf("state at position 2: %+v", before)
	}
	now, err := r.StateAt(ctx, h.account, audit.Bound{Time: time.Now().Add(time.Hour * 24 * 3650)})
	if err != nil {
		t.Fatal(err)
	}
	if len(now.Account.Devices) != 1 || !now.Account.MFAEnabled || now.Account.BackupCodesLeft != 1 || len(now.Challenges) != 3 {
		t.Fatalf("state now: %+v", now)
	}
	sj, _ := json.Marshal(now)
	noSecret(t, "state-at", sj)
	// By time: the store's clock ticks one second per commit, from h0.
	byTime, err := r.StateAt(ctx, h.account, audit.Bound{Time: h.t0.Add(3 * time.Second)})
	if err != nil || len(byTime.Account.Devices) != 1 || byTime.Account.MFAEnabled {
		t.Fatalf("state at h0+3s: %+v %v", byTime, err)
	}
	if _, err := r.StateAt(ctx, h.account, audit.Bound{}); err == nil {
		t.Fatal("a state-at without bound was answered")
	}

	// Exports carry the chain, and their hashes recompute without the data.
	h.checkpoint(t)
	chained, err := h.store.ReadAllChained(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range chained {
		v := audit.ExportView(&chained[i])
		ej, _ := json.Marshal(v)
		noSecret(t, "export", ej)
		dh, _ := eventstore.ParseHash(v.DataHash)
		prev, _ := eventstore.ParseHash(v.PrevHash)
		rec := chained[i].RecordedEvent
		rec.Data = nil
		if eventstore.ChainHashWithData(prev, &rec, dh).String() != v.Hash {
			t.Fatalf("export line %d does not recompute", i)
		}
	}
}
