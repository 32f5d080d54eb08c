package domain_test

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// t0 is the fixed clock of every test: a time step boundary (divisible by 30 s).
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	policy      = domain.DefaultPolicy()
	accountID   = uuid.MustParse("0195a1b2-0000-7000-8000-000000000001")
	deviceID    = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000d1")
	device2ID   = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000d2")
	appID       = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000a1")
	challengeID = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000c1")
	challenge2  = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000c2")
	setID       = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b1")
	email       = mustEmail("Ada@Example.com")
	pwHash      = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA"
	sealed      = []byte{1, 2, 'k', '1', 0xde, 0xad}
	devKey      = ed25519.NewKeyFromSeed(make([]byte, 32))
	dev2Key     = ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))
	devPub      = []byte(devKey.Public().(ed25519.PublicKey))
	dev2Pub     = []byte(dev2Key.Public().(ed25519.PublicKey))
	step0       = uint64(t0.Unix() / 30)
)

func mustEmail(s string) domain.Email {
	e, err := domain.ParseEmail(s)
	if err != nil {
		panic(err)
	}
	return e
}

func hashes(prefix string) []string {
	out := make([]string, 10)
	for i := range out {
		out[i] = "k1:" + prefix + string(rune('a'+i))
	}
	return out
}

// Past events used as "given" in many cases.
var (
	registered    = domain.AccountRegistered{AccountID: accountID, Email: email, PasswordHash: pwHash, At: t0.Add(-time.Hour)}
	deviceLinked  = domain.DeviceLinked{AccountID: accountID, DeviceID: deviceID, PublicKey: devPub, Name: "Pixel", Method: domain.LinkFromPhone, SealedTOTPSecret: sealed, At: t0.Add(-time.Hour)}
	device2Linked = domain.DeviceLinked{AccountID: accountID, DeviceID: device2ID, PublicKey: dev2Pub, Name: "iPad", Method: domain.LinkFromPhone, SealedTOTPSecret: sealed, At: t0.Add(-time.Hour)}
	mfaEnabled    = domain.MFAEnabled{AccountID: accountID, At: t0.Add(-time.Hour)}
	codesIssued   = domain.BackupCodesIssued{AccountID: accountID, SetID: setID, Hashes: hashes("old"), At: t0.Add(-time.Hour)}
	appAdded      = domain.TOTPAppAdded{AccountID: accountID, AppID: appID, Name: "Aegis", SealedSecret: sealed, At: t0.Add(-time.Hour)}
	appConfirmed  = domain.TOTPAppConfirmed{AccountID: accountID, AppID: appID, Step: step0 - 100, At: t0.Add(-time.Hour)}
	challenged    = domain.SignInChallenged{AccountID: accountID, ChallengeID: challengeID, ExpiresAt: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	// withMFA is an account with one device, 2FA on, backup codes and a pending challenge.
	withMFA = []domain.Event{registered, deviceLinked, mfaEnabled, codesIssued, challenged}
)

func concat(parts ...[]domain.Event) []domain.Event {
	var out []domain.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// failures returns n failures of the second factor (wrong codes) at at.
func failures(n int, at time.Time) []domain.Event {
	out := make([]domain.Event, n)
	for i := range out {
		out[i] = domain.TOTPCheckFailed{AccountID: accountID, Reason: domain.FailureWrongCode, At: at}
	}
	return out
}

// wrongPasswords returns n wrong passwords from src at at.
func wrongPasswords(n int, src domain.SignInSource, at time.Time) []domain.Event {
	out := make([]domain.Event, n)
	for i := range out {
		out[i] = domain.SignInFailed{AccountID: accountID, Source: src, At: at}
	}
	return out
}

// gwt is one given/when/then case over aggregate A.
type gwt[A any] struct {
	name  string
	given []domain.Event
	when  func(A) domain.Decision
	then  []domain.Event
	err   error
}

// run folds given with load, decides when, and checks the events (exactly, in order) and
// the error (with errors.Is). Every returned event must also encode with the registry.
func run[A any](t *testing.T, load func([]domain.Event) (A, error), cases []gwt[A]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			agg, err := load(c.given)
			if err != nil {
				t.Fatalf("given: %v", err)
			}
			d := c.when(agg)
			checkDecision(t, d, c.then, c.err)
		})
	}
}

func checkDecision(t *testing.T, d domain.Decision, then []domain.Event, wantErr error) {
	t.Helper()
	if wantErr == nil && d.Err != nil {
		t.Fatalf("error = %v, want none", d.Err)
	}
	if wantErr != nil && !errors.Is(d.Err, wantErr) {
		t.Fatalf("error = %v, want %v", d.Err, wantErr)
	}
	if len(then) == 0 && len(d.Events) == 0 {
		return
	}
	if !reflect.DeepEqual(d.Events, then) {
		t.Fatalf("events:\n got  %#v\n want %#v", d.Events, then)
	}
	for _, e := range d.Events {
		if _, _, _, err := domain.Encode(e); err != nil {
			t.Fatalf("decision returned an unregistered event: %v", err)
		}
	}
}
