package domain_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// richHistory is an account stream that sets every part of the account's state: devices
// linked and unlinked, a TOTP app, backup and bypass codes (some used), second-factor
// failures and a lock, wrong passwords and source locks, a mute, a pending challenge, an
// enrollment, a sign-out. Each event is decoded from its encoding, as a load gives it.
func richHistory(t *testing.T) []domain.Event {
	t.Helper()
	src, other := domain.SourceOfIP("192.0.2.7"), domain.SourceOfIP("2001:db8::1")
	linked := deviceLinked
	linked.EnrollmentID = tokenID
	events := concat(
		[]domain.Event{registered, linked, device2Linked, mfaEnabled, codesIssued, appAdded, appConfirmed,
			domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0, At: t0},
			domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: appID, Step: step0 + 1, At: t0},
			domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 3, ChallengeID: challengeID, At: t0},
			domain.BypassCodesIssued{AccountID: accountID, SetID: uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b2"), Hashes: hashes("bypass"), ExpiresAt: t0.Add(time.Hour), At: t0},
			domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0},
			domain.PasswordChanged{AccountID: accountID, PasswordHash: pwHash + "x", At: t0},
		},
		failures(3, t0),
		[]domain.Event{domain.MFALocked{AccountID: accountID, Failures: 3, Until: t0.Add(time.Minute), At: t0}},
		failures(2, t0.Add(time.Second)),
		wrongPasswords(4, src, t0),
		[]domain.Event{domain.SignInLocked{AccountID: accountID, Source: src, Failures: 5, Until: t0.Add(time.Minute), At: t0}},
		wrongPasswords(2, other, t0),
		[]domain.Event{
			domain.PushMuted{AccountID: accountID, ChallengeID: challengeID, Until: t0.Add(time.Hour), At: t0},
			domain.ChallengeFailed{AccountID: accountID, ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureDenied, At: t0},
			domain.SignedOut{AccountID: accountID, SessionDigest: make([]byte, 32), Until: t0.Add(time.Hour), At: t0},
			challenged,
			// The help desk: codes with a reason, a disabling and an enabling, notices read, and
			// a disabling again, whose notice is pending (a reset: TestAccountSnapshotAfterAReset).
			deskBypass, disabled, enabled, noticesSeen, disabled,
		},
	)
	out := make([]domain.Event, len(events))
	for i, e := range events {
		typ, ver, raw, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = domain.Decode(typ, ver, raw); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func snapshotOf(t *testing.T, a *domain.Account) []byte {
	t.Helper()
	b, err := a.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAccountSnapshotRestoresTheFold checks that, cut anywhere, a history's account restored
// from its snapshot and folded with the rest is the account LoadAccount folds from the whole,
// and that it decides the same.
func TestAccountSnapshotRestoresTheFold(t *testing.T) {
	t.Parallel()
	history := richHistory(t)
	whole, err := domain.LoadAccount(history)
	if err != nil {
		t.Fatal(err)
	}
	want := snapshotOf(t, whole)
	for cut := range len(history) + 1 {
		head, err := domain.LoadAccount(history[:cut])
		if err != nil {
			t.Fatal(err)
		}
		restored, err := domain.UnmarshalAccountSnapshot(domain.AccountSnapshotSchema, snapshotOf(t, head))
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if got := snapshotOf(t, restored); !bytes.Equal(got, snapshotOf(t, head)) {
			t.Fatalf("cut %d: restored account's snapshot\n%s\nwant\n%s", cut, got, snapshotOf(t, head))
		}
		folded, err := restored.Fold(history[cut:]...)
		if err != nil {
			t.Fatal(err)
		}
		if got := snapshotOf(t, folded); !bytes.Equal(got, want) {
			t.Fatalf("cut %d: restored and folded\n%s\nwant\n%s", cut, got, want)
		}
		if folded.Version() != len(history) {
			t.Fatalf("cut %d: version %d, want %d", cut, folded.Version(), len(history))
		}
	}
	// The restored account decides as the folded one: a wrong password from the locked
	// source is refused, one more from the other source is recorded.
	restored, err := domain.UnmarshalAccountSnapshot(domain.AccountSnapshotSchema, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []domain.SignInSource{domain.SourceOfIP("192.0.2.7"), domain.SourceOfIP("2001:db8::1")} {
		if a, b := whole.CheckSignIn(src, t0), restored.CheckSignIn(src, t0); !reflect.DeepEqual(a, b) {
			t.Fatalf("CheckSignIn(%s): folded %v, restored %v", src, a, b)
		}
		cmd := domain.RecordFailedSignIn{Source: src}
		if a, b := whole.RecordFailedSignIn(cmd, t0, policy), restored.RecordFailedSignIn(cmd, t0, policy); !reflect.DeepEqual(a, b) {
			t.Fatalf("RecordFailedSignIn(%s): folded %+v, restored %+v", src, a, b)
		}
	}
}

// TestAccountFoldLeavesTheAccountAsItWas checks that Fold shares nothing it changes: the
// account folded onto keeps its codes, steps, failures and devices.
func TestAccountFoldLeavesTheAccountAsItWas(t *testing.T) {
	t.Parallel()
	history := richHistory(t)
	a, err := domain.LoadAccount(history)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotOf(t, a)
	more := []domain.Event{
		domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 5, ChallengeID: challengeID, At: t0},
		domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0 + 9, At: t0},
		domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: appID, Step: step0 + 9, At: t0},
		domain.SignInLocked{AccountID: accountID, Source: domain.SourceOfIP("2001:db8::1"), Failures: 5, Until: t0.Add(time.Minute), At: t0},
		domain.TOTPCheckFailed{AccountID: accountID, Reason: domain.FailureWrongCode, At: t0},
		domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0},
	}
	b, err := a.Fold(more...)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotOf(t, a); !bytes.Equal(got, before) {
		t.Fatalf("the account folded onto changed:\n%s\nwas\n%s", got, before)
	}
	if b.BackupCodesLeft() != a.BackupCodesLeft()-1 || len(b.LinkedDevices()) != len(a.LinkedDevices())-1 {
		t.Fatalf("the folded account did not take the events: %d codes, %d devices", b.BackupCodesLeft(), len(b.LinkedDevices()))
	}
}

func TestAccountSnapshotOfAnotherSchemaIsRefused(t *testing.T) {
	t.Parallel()
	a, err := domain.LoadAccount(withMFA)
	if err != nil {
		t.Fatal(err)
	}
	data := snapshotOf(t, a)
	for name, c := range map[string]struct {
		schema int
		data   []byte
	}{
		"another schema": {domain.AccountSnapshotSchema + 1, data},
		"not JSON":       {domain.AccountSnapshotSchema, []byte("{")},
		"codes mismatch": {domain.AccountSnapshotSchema, []byte(`{"backup":{"hashes":["a"],"used":[]}}`)},
	} {
		if _, err := domain.UnmarshalAccountSnapshot(c.schema, c.data); !errors.Is(err, domain.ErrMalformedEvent) {
			t.Fatalf("%s: %v, want ErrMalformedEvent", name, err)
		}
	}
}

// TestAccountSnapshotAfterAReset: the help desk's reset and unlock survive a snapshot: the
// restored account still requires a new second factor by the same time, ends the same sessions
// and tells the same notices.
func TestAccountSnapshotAfterAReset(t *testing.T) {
	t.Parallel()
	history := concat(withMFA, failures(2, t0), []domain.Event{unlocked,
		domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: resetEvent.At},
		domain.MFADisabled{AccountID: accountID, At: resetEvent.At}, resetEvent})
	whole, err := domain.LoadAccount(history)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := domain.UnmarshalAccountSnapshot(domain.AccountSnapshotSchema, snapshotOf(t, whole))
	if err != nil {
		t.Fatal(err)
	}
	req, by := restored.EnrollmentRequired()
	if !req || !by.Equal(resetEvent.EnrollBy) || !restored.SessionsValidFrom().Equal(resetEvent.At) {
		t.Fatalf("restored after a reset: enrollment %t by %v, sessions from %v", req, by, restored.SessionsValidFrom())
	}
	if !reflect.DeepEqual(restored.Notices(), whole.Notices()) || len(whole.Notices()) != 2 {
		t.Fatalf("notices: restored %+v, folded %+v", restored.Notices(), whole.Notices())
	}
	if !bytes.Equal(snapshotOf(t, restored), snapshotOf(t, whole)) {
		t.Fatal("the restored account's snapshot differs")
	}
}
