package domain_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

// samples holds one fully populated event of every registered type.
var samples = []domain.Event{
	domain.EmailClaimed{AccountID: accountID, At: t0},
	registered,
	domain.PasswordChanged{AccountID: accountID, PasswordHash: pwHash, At: t0},
	domain.SignInFailed{AccountID: accountID, Source: domain.SourceOfIP("192.0.2.7"), At: t0},
	domain.SignInLocked{AccountID: accountID, Source: domain.SourceOfIP("192.0.2.7"), Failures: 10, Until: t0.Add(15 * time.Minute), At: t0},
	mfaEnabled,
	domain.MFADisabled{AccountID: accountID, At: t0},
	domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0},
	domain.PushMuted{AccountID: accountID, ChallengeID: challengeID, Until: t0.Add(time.Minute), At: t0},
	domain.SignInChallenged{AccountID: accountID, ChallengeID: challenge2, Superseded: challengeID, ExpiresAt: t0, At: t0},
	domain.ChallengeFailed{AccountID: accountID, ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureDenied, At: t0},
	domain.DeviceLinked{AccountID: accountID, DeviceID: deviceID, PublicKey: devPub, Name: "Pixel", Method: domain.LinkFromComputer, EnrollmentID: tokenID, SealedTOTPSecret: sealed, At: t0},
	domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0},
	appAdded,
	appConfirmed,
	domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0, At: t0},
	domain.TOTPCheckFailed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Reason: domain.FailureReusedCode, At: t0},
	codesIssued,
	domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 3, ChallengeID: challengeID, At: t0},
	domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureWrongBackupCode, At: t0},
	domain.SignedOut{AccountID: accountID, SessionDigest: make([]byte, 32), Until: t0, At: t0},
	domain.DeviceRegistered{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel", Platform: "android", At: t0},
	domain.EnrollmentStarted{EnrollmentID: tokenID, AccountID: accountID, ExpiresAt: t0, At: t0},
	domain.EnrollmentCompleted{EnrollmentID: tokenID, AccountID: accountID, DeviceID: deviceID, PublicKey: devPub, At: t0},
	domain.EnrollmentExpired{EnrollmentID: tokenID, AccountID: accountID, At: t0},
	issued,
	domain.ChallengeDelivered{ChallengeID: challengeID, DeviceID: deviceID, At: t0},
	domain.ChallengeApproved{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Number: 42, Signature: []byte{9}, At: t0},
	domain.ChallengeDenied{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Signature: []byte{9}, At: t0},
	domain.FraudReported{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Signature: []byte{9}, At: t0},
	domain.NumberMismatched{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Typed: 24, Signature: []byte{9}, At: t0},
	domain.ChallengeExpired{ChallengeID: challengeID, AccountID: accountID, At: t0},
	domain.ChallengeCancelled{ChallengeID: challengeID, AccountID: accountID, Reason: domain.CancelAbandoned, At: t0},
	domain.ChallengeCompletedTOTP{ChallengeID: challengeID, AccountID: accountID, SecretID: appID, Step: step0, At: t0},
	domain.ChallengeCompletedBackupCode{ChallengeID: challengeID, AccountID: accountID, SetID: setID, Index: 1, At: t0},
	domain.ChallengeRedeemed{ChallengeID: challengeID, AccountID: accountID, Purpose: domain.RedeemSession, SessionDigest: make([]byte, 32), At: t0},
	domain.SessionStarted{AccountID: accountID, SessionDigest: make([]byte, 32), ChallengeID: challengeID, IP: "192.0.2.1", UserAgent: "Firefox", Expires: t0, At: t0},
	domain.SessionSeen{AccountID: accountID, SessionDigest: make([]byte, 32), IP: "192.0.2.1", At: t0},
	domain.SessionsEnded{AccountID: accountID, KeptDigest: make([]byte, 32), Until: t0, At: t0},
	domain.DeviceRenamed{AccountID: accountID, DeviceID: deviceID, Name: "work phone", At: t0},
	domain.TOTPAppRenamed{AccountID: accountID, AppID: appID, Name: "spare app", At: t0},
	domain.TOTPAppRemoved{AccountID: accountID, AppID: appID, At: t0},
	domain.PushResumed{AccountID: accountID, ChallengeID: challengeID, At: t0},
}

func TestEveryRegisteredTypeRoundTrips(t *testing.T) {
	t.Parallel()
	var covered []string
	for _, e := range samples {
		typ, version, data, err := domain.Encode(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		if typ != e.EventType() || version < 1 {
			t.Errorf("encode %T: type %q version %d", e, typ, version)
		}
		got, err := domain.Decode(typ, version, data)
		if err != nil {
			t.Fatalf("decode %s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s does not round-trip:\n got  %#v\n want %#v", typ, got, e)
		}
		covered = append(covered, typ)
	}
	slices.Sort(covered)
	if !slices.Equal(covered, domain.EventTypes()) {
		t.Fatalf("samples cover\n%v\nbut the registry holds\n%v", covered, domain.EventTypes())
	}
}

func TestEventTypesAreDottedAndUnique(t *testing.T) {
	t.Parallel()
	types := domain.EventTypes()
	if len(types) != len(samples) {
		t.Fatalf("%d types registered, %d samples", len(types), len(samples))
	}
	for _, typ := range types {
		if !strings.Contains(typ, ".") || strings.ToLower(typ) != typ || !domain.Events.IsRegistered(typ) {
			t.Errorf("type %q is not a registered lower-case dotted name", typ)
		}
	}
}

func TestEventsHoldNoSecretInTheClear(t *testing.T) {
	t.Parallel()
	// The sealed fields hold sealed bytes, the hashes keyed hashes: what is encoded is what
	// the decisions were given, never a plaintext field. Check that no field is named for one.
	for _, e := range samples {
		_, _, data, _ := domain.Encode(e)
		var fields map[string]any
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		for name := range fields {
			if name == "password" || name == "secret" || name == "code" || name == "codes" || name == "token" || name == "totp_secret" {
				t.Errorf("%s has a clear-text field %q", e.EventType(), name)
			}
		}
	}
}

func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		typ     string
		version int
		data    string
		err     error
	}{
		"unknown type":       {"account.exploded", 1, `{}`, domain.ErrUnknownEventType},
		"newer version":      {"account.registered", 2, `{}`, domain.ErrUnknownSchemaVersion},
		"version zero":       {"account.registered", 0, `{}`, domain.ErrUnknownSchemaVersion},
		"not JSON":           {"account.registered", 1, `{`, domain.ErrMalformedEvent},
		"bad email":          {"account.registered", 1, `{"email":"nope"}`, domain.ErrMalformedEvent},
		"unknown reason":     {"account.challenge.failed", 1, `{"reason":"bored"}`, domain.ErrMalformedEvent},
		"bad enrollment ID":  {"enrollment.started", 1, `{"enrollment_id":"xyz"}`, domain.ErrMalformedEvent},
		"number as a string": {"challenge.issued", 1, `{"number":"42"}`, domain.ErrMalformedEvent},
	} {
		if _, err := domain.Decode(c.typ, c.version, []byte(c.data)); !errors.Is(err, c.err) {
			t.Errorf("%s: error = %v, want %v", name, err, c.err)
		}
	}
}

func TestEncodeRefusesPointersAndUnknownTypes(t *testing.T) {
	t.Parallel()
	e := domain.MFAEnabled{AccountID: accountID, At: t0}
	if _, _, _, err := domain.Encode(&e); !errors.Is(err, domain.ErrUnknownEventType) {
		t.Fatalf("encode of a pointer: %v", err)
	}
	if _, _, _, err := domain.Encode(nil); !errors.Is(err, domain.ErrUnknownEventType) {
		t.Fatalf("encode of nil: %v", err)
	}
	if _, _, _, err := domain.NewRegistry().Encode(e); !errors.Is(err, domain.ErrUnknownEventType) {
		t.Fatalf("encode with an empty registry: %v", err)
	}
}

// renamed is a test event at schema version 3 whose field was "nick" in version 1 and
// "handle" in version 2.
type renamed struct {
	Name string `json:"name"`
}

func (renamed) EventType() string     { return "test.renamed" }
func (renamed) OccurredAt() time.Time { return time.Time{} }

func TestUpcastersBringOldVersionsUp(t *testing.T) {
	t.Parallel()
	r := domain.NewRegistry()
	domain.Register[renamed](r, 3)
	rename := func(from, to string) domain.Upcaster {
		return func(data []byte) ([]byte, error) {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, err
			}
			m[to] = m[from]
			delete(m, from)
			return json.Marshal(m)
		}
	}
	r.RegisterUpcaster("test.renamed", 1, rename("nick", "handle"))
	r.RegisterUpcaster("test.renamed", 2, rename("handle", "name"))
	for version, data := range map[int]string{1: `{"nick":"ada"}`, 2: `{"handle":"ada"}`, 3: `{"name":"ada"}`} {
		got, err := r.Decode("test.renamed", version, []byte(data))
		if err != nil || got != (renamed{Name: "ada"}) {
			t.Errorf("version %d: %#v, %v", version, got, err)
		}
	}
	if _, err := r.Decode("test.renamed", 1, []byte(`not json`)); !errors.Is(err, domain.ErrMalformedEvent) {
		t.Errorf("failing upcaster: %v", err)
	}
	missing := domain.NewRegistry()
	domain.Register[renamed](missing, 2)
	if _, err := missing.Decode("test.renamed", 1, []byte(`{}`)); !errors.Is(err, domain.ErrUnknownSchemaVersion) {
		t.Errorf("no upcaster: %v", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("second registration did not panic")
		}
	}()
	r := domain.NewRegistry()
	domain.Register[renamed](r, 1)
	domain.Register[renamed](r, 1)
}

func TestDecodeRefusesAMissingEnum(t *testing.T) {
	t.Parallel()
	if _, err := domain.Decode("account.challenge.failed", 1, []byte(`{"account_id":"0195a1b2-0000-7000-8000-000000000001"}`)); !errors.Is(err, domain.ErrMalformedEvent) {
		t.Fatalf("event without a reason: %v, want ErrMalformedEvent", err)
	}
}
