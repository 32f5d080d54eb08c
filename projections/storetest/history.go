package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// testHistory folds an account's sign-ins (a push approved, a push denied, a device's offline
// code, an app's code, a backup code, a help desk's bypass code, a sign-in with the password
// alone, a forged approval) into a set over s, and checks the rows the history lists, their
// methods and outcomes, and the server's check of each signed answer; then that a row altered
// in the store no longer verifies, and that the history keeps the newest HistoryLimit entries.
func testHistory(t *testing.T, s projections.Store) {
	ctx := context.Background()
	set, err := projections.OpenSet(ctx, s, nil)
	must(t, err)
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	account, other := uuid.New(), uuid.New()
	phone, laptop, app := uuid.New(), uuid.New(), uuid.New()
	pubPhone, keyPhone, _ := ed25519.GenerateKey(nil)
	pubLaptop, _, _ := ed25519.GenerateKey(nil)
	backup, bypass := uuid.New(), uuid.New()
	pos := eventstore.Position(0)
	apply := func(events ...domain.Event) {
		t.Helper()
		var batch []eventstore.RecordedEvent
		for _, e := range events {
			typ, ver, data, err := domain.Encode(e)
			must(t, err)
			pos++
			batch = append(batch, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, Position: pos})
		}
		must(t, set.ApplyBatch(ctx, batch))
	}
	apply(
		domain.DeviceLinked{AccountID: account, DeviceID: phone, PublicKey: pubPhone, Name: "Ada's phone", Method: domain.LinkFromComputer, At: t0},
		domain.DeviceLinked{AccountID: account, DeviceID: laptop, PublicKey: pubLaptop, Name: "terminal on vm", Method: domain.LinkFromComputer, At: t0},
		domain.TOTPAppAdded{AccountID: account, AppID: app, Name: "Authenticator", At: t0},
		domain.TOTPAppRenamed{AccountID: account, AppID: app, Name: "Work authenticator", At: t0},
		domain.BackupCodesIssued{AccountID: account, SetID: backup, At: t0},
		domain.BypassCodesIssued{AccountID: account, SetID: bypass, By: "desk", Reason: "lost phone", At: t0},
	)
	devices := []domain.ChallengeDevice{{DeviceID: phone, PublicKey: pubPhone}, {DeviceID: laptop, PublicKey: pubLaptop}}
	issue := func(i int, acc uuid.UUID) (uuid.UUID, domain.LoginContext) {
		id := uuid.New()
		at := t0.Add(time.Duration(i) * time.Minute)
		lc := domain.LoginContext{UserAgent: "Firefox", IP: "192.0.2.7", At: at}
		d := lc.Digest()
		apply(domain.ChallengeIssued{ChallengeID: id, AccountID: acc, Number: 42, Context: lc, ContextDigest: d[:], Devices: devices, ExpiresAt: at.Add(time.Minute), At: at})
		return id, lc
	}
	sign := func(id uuid.UUID, a domain.Answer, n domain.MatchNumber, lc domain.LoginContext) []byte {
		d := lc.Digest()
		return ed25519.Sign(keyPhone, domain.SignedAnswerPayload(id, a, n, d[:]))
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i)*time.Minute + time.Second) }

	approved, lc := issue(1, account)
	apply(domain.NumberMismatched{ChallengeID: approved, AccountID: account, DeviceID: phone, Typed: 17, Signature: sign(approved, domain.AnswerApprove, 17, lc), At: at(1)},
		domain.ChallengeApproved{ChallengeID: approved, AccountID: account, DeviceID: phone, Number: 42, Signature: sign(approved, domain.AnswerApprove, 42, lc), At: at(1)},
		domain.ChallengeRedeemed{ChallengeID: approved, AccountID: account, Purpose: domain.RedeemSession, At: at(1)})
	denied, lc := issue(2, account)
	apply(domain.ChallengeDenied{ChallengeID: denied, AccountID: account, DeviceID: phone, Signature: sign(denied, domain.AnswerDeny, 0, lc), At: at(2)})
	byDevice, _ := issue(3, account)
	apply(domain.ChallengeCompletedTOTP{ChallengeID: byDevice, AccountID: account, SecretID: laptop, Step: 1, At: at(3)})
	byApp, _ := issue(4, account)
	apply(domain.ChallengeCompletedTOTP{ChallengeID: byApp, AccountID: account, SecretID: app, Step: 2, At: at(4)})
	byBackup, _ := issue(5, account)
	apply(domain.ChallengeCompletedBackupCode{ChallengeID: byBackup, AccountID: account, SetID: backup, At: at(5)})
	byBypass, _ := issue(6, account)
	apply(domain.ChallengeCompletedBackupCode{ChallengeID: byBypass, AccountID: account, SetID: bypass, At: at(6)})
	forged, lc := issue(7, account)
	apply(domain.ChallengeApproved{ChallengeID: forged, AccountID: account, DeviceID: phone, Number: 42, Signature: sign(forged, domain.AnswerApprove, 41, lc), At: at(7)})
	cancelled, _ := issue(8, account)
	apply(domain.ChallengeCancelled{ChallengeID: cancelled, AccountID: account, Reason: domain.CancelLocked, At: at(8)})
	digest := sha256.Sum256([]byte("a session id"))
	apply(domain.SessionStarted{AccountID: account, SessionDigest: digest[:], IP: "198.51.100.1", UserAgent: "Chrome", Expires: t0.Add(time.Hour), At: t0.Add(9 * time.Minute)})
	issue(10, other)

	list, names, err := set.History.ForAccount(account)
	must(t, err)
	type want struct {
		id     uuid.UUID
		state  domain.ChallengeState
		method projections.HistoryMethod
		check  domain.SignatureCheck
	}
	wants := []want{
		{uuid.Nil, domain.StateOf(domain.OutcomeApproved), projections.ViaPassword, domain.SignatureNone},
		{cancelled, domain.StateOf(domain.OutcomeCancelled), projections.HistoryMethod{}, domain.SignatureNone},
		{forged, domain.StateOf(domain.OutcomeApproved), projections.ViaPushApprove, domain.SignatureFailed},
		{byBypass, domain.StateOf(domain.OutcomeCompletedBackupCode), projections.ViaBypassCode, domain.SignatureNone},
		{byBackup, domain.StateOf(domain.OutcomeCompletedBackupCode), projections.ViaBackupCode, domain.SignatureNone},
		{byApp, domain.StateOf(domain.OutcomeCompletedTOTP), projections.ViaTOTPApp, domain.SignatureNone},
		{byDevice, domain.StateOf(domain.OutcomeCompletedTOTP), projections.ViaDeviceCode, domain.SignatureNone},
		{denied, domain.StateOf(domain.OutcomeDenied), projections.ViaPushDeny, domain.SignatureVerified},
		{approved, domain.StateOf(domain.OutcomeApproved), projections.ViaPushApprove, domain.SignatureVerified},
	}
	if len(list) != len(wants) {
		t.Fatalf("history of the account: %d entries, want %d: %+v", len(list), len(wants), list)
	}
	for i, w := range wants {
		e := list[i]
		if e.ID != w.id || e.State != w.state || e.Method != w.method || e.Check() != w.check {
			t.Errorf("entry %d: %v %v %q %q, want %v %v %q %q", i, e.ID, e.State, e.Method, e.Check(), w.id, w.state, w.method, w.check)
		}
	}
	first := list[len(list)-1]
	if first.DeviceID != phone || first.Mismatches != 1 || first.Redeemed != "session" || first.Context.IP != "192.0.2.7" || first.Context.UserAgent != "Firefox" {
		t.Errorf("the approved entry: %+v", first)
	}
	if list[1].CancelReason != "locked" || list[0].Context.IP != "198.51.100.1" || list[0].Kind != "sign_in" {
		t.Errorf("the cancelled and the password entries: %+v, %+v", list[1], list[0])
	}
	if names.Devices[phone] != "Ada's phone" || names.Apps[app] != "Work authenticator" {
		t.Errorf("names: %+v", names)
	}

	// A row altered in the store (the IP the page shows) no longer verifies.
	raw, err := s.Get(ctx, "history", approved[:])
	must(t, err)
	var row map[string]any
	must(t, json.Unmarshal(raw, &row))
	row["Context"].(map[string]any)["ip"] = "203.0.113.66"
	altered, err := json.Marshal(row)
	must(t, err)
	tx := begin(t, s)
	must(t, tx.Put(ctx, "history", approved[:], "", 0, altered))
	must(t, tx.Commit())
	list, _, err = set.History.ForAccount(account)
	must(t, err)
	if e := list[len(list)-1]; e.ID != approved || e.Context.IP != "203.0.113.66" || e.Check() != domain.SignatureFailed {
		t.Fatalf("an altered row: %v %s, check %q; want failed", e.ID, e.Context.IP, e.Check())
	}

	// The history keeps the newest HistoryLimit entries of each account.
	for i := range projections.HistoryLimit {
		issue(100+i, account)
	}
	list, _, err = set.History.ForAccount(account)
	must(t, err)
	if len(list) != projections.HistoryLimit || !list[len(list)-1].At.Equal(t0.Add(100*time.Minute)) {
		t.Fatalf("after %d more challenges, %d entries, the oldest at %v", projections.HistoryLimit, len(list), list[len(list)-1].At)
	}
	if n, err := s.Count(ctx, "history"); err != nil || n != projections.HistoryLimit+1 {
		t.Fatalf("the history table holds %d rows (%v), want %d", n, err, projections.HistoryLimit+1)
	}
	if l, _, _ := set.History.ForAccount(other); len(l) != 1 {
		t.Fatalf("another account's history: %d entries, want 1", len(l))
	}
}
