package app

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// TestNoSecretInStoredEvents runs registration, enrollment, a TOTP app, codes and sign-ins,
// then scans the raw data and metadata of every stored event for the password, the TOTP
// secrets and the backup codes in the forms they could leak in.
func TestNoSecretInStoredEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	const password = "a very secret password"
	id, err := f.s.Register(f.ctx, "secret@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	phone := newDevice(t)
	res := f.enroll(id, phone)
	uri, _, err := f.s.AddTOTPApp(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := f.s.IssueBackupCodes(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	signIn, err := f.s.SignIn(f.ctx, "secret@example.com", password, lc)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.CompleteWithBackupCode(f.ctx, signIn.Challenge.ID, fresh[0]); err != nil {
		t.Fatal(err)
	}
	appSecret := uri[strings.Index(uri, "secret=")+len("secret="):]
	appSecret = appSecret[:strings.IndexAny(appSecret+"&", "&")]

	var needles []string
	needles = append(needles, password, res.TOTPSecret, appSecret)
	for _, s := range []string{res.TOTPSecret, appSecret} {
		raw, err := b32.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles, base64.StdEncoding.EncodeToString(raw), hex.EncodeToString(raw))
	}
	for _, c := range append(res.BackupCodes, fresh...) {
		needles = append(needles, c, strings.ReplaceAll(c, "-", ""))
	}
	all, err := f.store.ReadAll(f.ctx, eventstore.Start, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 10 {
		t.Fatalf("only %d events stored", len(all))
	}
	for _, ev := range all {
		blob := append(append([]byte(ev.Stream), ev.Data...), []byte(ev.Metadata.Actor+ev.Metadata.CorrelationID+ev.Metadata.CausationID)...)
		low := bytes.ToLower(blob)
		for _, n := range needles {
			if bytes.Contains(blob, []byte(n)) || bytes.Contains(low, []byte(strings.ToLower(n))) {
				t.Fatalf("event %s (%s) holds a secret in the clear", ev.Type, ev.ID)
			}
		}
	}
}
