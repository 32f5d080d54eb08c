package domain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/secrets"
)

// personalNames are JSON names that hold data about a person wherever they appear; each such
// field must be tagged personal, unless it is listed in notPersonal with the reason.
var personalNames = []string{"email", "ip", "user_agent", "name", "username", "place", "display_name", "source", "platform", "reason", "push_info", "linking_device"}

var notPersonal = map[string]string{
	"integration.created.name":          "the name an administrator gave an integrating application",
	"oidc.client.registered.name":       "the name an administrator gave a relying party",
	"account.erased.reason":             "the help desk's record of why an account was erased, kept on purpose (docs/erasure.md)",
	"account.challenge.failed.reason":   "a closed set of failure reasons",
	"totp.check.failed.reason":          "a closed set of failure reasons",
	"backupcodes.check.failed.reason":   "a closed set of failure reasons",
	"challenge.cancelled.reason":        "a closed set of cancel reasons",
	"oidc.authorization.revoked.reason": "a closed set of revocation reasons",
	"audit.loss.accepted.reason":        "the operator's record of why a loss of events was accepted, about the log and of no account (docs/audit.md)",
}

// valueAt returns the JSON value at path in data, or nil.
func valueAt(t *testing.T, data []byte, path []string) any {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// fullContext fills every personal field of a login context, which the samples leave partly
// empty.
var fullContext = domain.ChallengeIssued{
	ChallengeID: challengeID, AccountID: accountID, Number: 42, ContextDigest: []byte{1},
	Context: domain.LoginContext{UserAgent: "Firefox/140", IP: "203.0.113.7", Place: "Lyon, FR", At: t0, App: "VPN", Type: "Login request", DisplayName: "ada.lovelace",
		PushInfo: []domain.PushInfoItem{{Key: "from", Value: "Lovelace Street"}}, LinkingDevice: "Ada new tablet"},
	ExpiresAt: t0, At: t0,
}

// For every registered event type: no field that a name says is personal goes untagged; every
// personal field of a sample is absent from the stored bytes once sealed, read back whole while
// the owner's key exists and shown as erased once it is destroyed; and no secret field's value
// appears in audit output, sealed or opened.
func TestEveryEventTypeSealsPersonalFieldsAndRedactsSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, _ := secrets.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	kr, _ := secrets.NewKeyring(k)
	codec := personal.NewCodec(personal.NewKeys(st, kr))

	filledOf := map[string]int{}
	for _, e := range append(append([]domain.Event(nil), samples...), fullContext, deskBypass) {
		typ, ver, clear, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		fields := domain.Events.Fields(typ)
		tagged := map[string]domain.Field{}
		for _, f := range fields {
			tagged[f.Name()] = f
		}
		checkNames(t, typ, clear, nil, tagged)

		ev := eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: clear}
		sealed, err := codec.Seal(ctx, ev)
		if err != nil {
			t.Fatalf("seal %s: %v", typ, err)
		}
		rec := &eventstore.RecordedEvent{ID: ev.ID, Type: typ, SchemaVersion: ver, Data: sealed.Data}
		opened, err := codec.Open(ctx, rec)
		if err != nil {
			t.Fatalf("open %s: %v", typ, err)
		}
		back, err := domain.Decode(typ, ver, opened)
		if err != nil {
			t.Fatalf("decode opened %s: %v", typ, err)
		}
		if _, _, again, _ := domain.Encode(back); !jsonEqual(t, again, clear) {
			t.Errorf("%s does not read back as written:\n got  %s\n want %s", typ, again, clear)
		}
		filled := 0
		for _, f := range fields {
			v := valueAt(t, clear, f.Path)
			if v == nil || v == "" {
				continue
			}
			text := strings.Trim(mustJSON(t, v), `"`)
			if f.Personal {
				filled++
				if bytes.Contains(sealed.Data, []byte(text)) {
					t.Errorf("%s: personal field %s (%q) is stored in the clear: %s", typ, f.Name(), text, sealed.Data)
				}
			}
			if f.Secret {
				for _, shown := range []json.RawMessage{audit.View(rec).Data, audit.Redact(opened)} {
					if bytes.Contains(shown, []byte(text)) {
						t.Errorf("%s: secret field %s escapes redaction: %s", typ, f.Name(), shown)
					}
				}
			}
		}
		if hasPersonal(fields) {
			filledOf[typ] += filled
		}
	}
	for typ, n := range filledOf {
		if n == 0 {
			t.Errorf("%s has personal fields but no sample fills one: the check proves nothing", typ)
		}
	}
}

func hasPersonal(fs []domain.Field) bool {
	for _, f := range fs {
		if f.Personal {
			return true
		}
	}
	return false
}

// checkNames walks the clear JSON and reports a member named like personal data that is not
// tagged personal, or like a secret that is not tagged secret.
func checkNames(t *testing.T, typ string, data []byte, parent []string, tagged map[string]domain.Field) {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return
	}
	for name, raw := range m {
		path := append(append([]string(nil), parent...), name)
		dotted := strings.Join(path, ".")
		for _, part := range []string{"hash", "secret", "sealed"} {
			if strings.Contains(name, part) && !tagged[dotted].Secret && name != personal.SealedField && name != "secret_id" { // secret_id names a secret, by its device or app ID
				t.Errorf("%s: field %s looks secret but is not tagged assent:\"secret\"", typ, dotted)
			}
		}
		for _, p := range personalNames {
			if name == p && !tagged[dotted].Personal && notPersonal[typ+"."+dotted] == "" {
				t.Errorf("%s: field %s looks personal but is not tagged assent:\"personal\"", typ, dotted)
			}
		}
		checkNames(t, typ, raw, path, tagged)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return mustJSON(t, x) == mustJSON(t, y)
}
