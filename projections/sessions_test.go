package projections_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// TestSessionsListEndAndCut checks that the sessions an account can see are the ones started
// and not ended, with their last use; that ending all other sessions keeps only the one named
// and refuses, through Ended, every session that began before the cut; and that expired
// sessions are swept as new ones start.
func TestSessionsListEndAndCut(t *testing.T) {
	t.Parallel()
	p := projections.NewSessions()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	account, other := uuid.New(), uuid.New()
	pos := eventstore.Position(0)
	apply := func(e domain.Event) {
		t.Helper()
		pos++
		if err := p.Apply(recorded(t, pos, e)); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(id [16]byte) []byte { d := sha256.Sum256(id[:]); return d[:] }
	start := func(acc uuid.UUID, id [16]byte, at time.Time) {
		apply(domain.SessionStarted{AccountID: acc, SessionDigest: digest(id), IP: "192.0.2.1", UserAgent: "Firefox", Expires: at.Add(12 * time.Hour), At: at})
	}
	a, b, c, theirs := [16]byte{1}, [16]byte{2}, [16]byte{3}, [16]byte{4}
	start(account, a, t0)
	start(account, b, t0.Add(time.Minute))
	start(account, c, t0.Add(2*time.Minute))
	start(other, theirs, t0)
	apply(domain.SessionSeen{AccountID: account, SessionDigest: digest(a), IP: "198.51.100.7", At: t0.Add(20 * time.Minute)})

	list := p.ForAccount(account, t0.Add(30*time.Minute))
	if len(list) != 3 || list[0].StartedAt != t0.Add(2*time.Minute) || list[2].LastIP != "198.51.100.7" || list[2].LastSeen != t0.Add(20*time.Minute) {
		t.Fatalf("sessions of the account: %+v", list)
	}
	apply(domain.SignedOut{AccountID: account, SessionDigest: digest(c), Until: t0.Add(12 * time.Hour), At: t0.Add(31 * time.Minute)})
	if list := p.ForAccount(account, t0.Add(32*time.Minute)); len(list) != 2 {
		t.Fatalf("after one sign-out, %d sessions listed, want 2", len(list))
	}

	cut := t0.Add(40 * time.Minute)
	apply(domain.SessionsEnded{AccountID: account, KeptDigest: digest(b), Until: cut.Add(12 * time.Hour), At: cut})
	list = p.ForAccount(account, cut)
	if len(list) != 1 || [32]byte(digest(b)) != list[0].Digest {
		t.Fatalf("after ending the others, listed %+v, want only b", list)
	}
	if !p.Ended(account, a, t0) || p.Ended(account, b, t0.Add(time.Minute)) {
		t.Fatal("the cut does not end a and keep b")
	}
	if p.Ended(other, theirs, t0) || len(p.ForAccount(other, cut)) != 1 {
		t.Fatal("another account's session was ended")
	}
	// A session that starts after the cut is not ended, though its cookie counts whole seconds.
	d := [16]byte{5}
	start(account, d, cut.Add(time.Millisecond))
	if p.Ended(account, d, cut.Truncate(time.Second)) {
		t.Fatal("a session begun after the cut is ended")
	}

	// 1,024 sessions a day later sweep the expired ones.
	later := t0.Add(24 * time.Hour)
	for i := range 1024 {
		start(other, [16]byte{9, byte(i), byte(i >> 8)}, later)
	}
	if _, ok := p.Get([32]byte(digest(b))); ok {
		t.Fatal("an expired session was not swept")
	}
	if p.Ended(account, a, t0) {
		t.Fatal("a cut whose sessions all expired was kept")
	}
	p.Reset()
	if p.Len() != 0 {
		t.Fatal("Reset left sessions")
	}
}

// TestSessionsEndedByTheHelpDesk checks that a reset of the second factor, and a disabling,
// drop from the list the account's sessions begun in the second of the act or before (the
// ones app.AccountStanding refuses), and keep those begun after it and other accounts'.
func TestSessionsEndedByTheHelpDesk(t *testing.T) {
	t.Parallel()
	for _, act := range []func(account uuid.UUID, at time.Time) domain.Event{
		func(account uuid.UUID, at time.Time) domain.Event {
			return domain.SecondFactorReset{AccountID: account, By: "desk", Reason: "lost phone", EnrollBy: at.Add(72 * time.Hour), At: at}
		},
		func(account uuid.UUID, at time.Time) domain.Event {
			return domain.AccountDisabled{AccountID: account, By: "desk", Reason: "left", At: at}
		},
	} {
		p := projections.NewSessions()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		account, other := uuid.New(), uuid.New()
		pos := eventstore.Position(0)
		apply := func(e domain.Event) {
			t.Helper()
			pos++
			if err := p.Apply(recorded(t, pos, e)); err != nil {
				t.Fatal(err)
			}
		}
		start := func(acc uuid.UUID, id byte, at time.Time) {
			d := sha256.Sum256([]byte{id})
			apply(domain.SessionStarted{AccountID: acc, SessionDigest: d[:], Expires: at.Add(12 * time.Hour), At: at})
		}
		start(account, 1, t0)
		start(account, 2, t0.Add(time.Minute+700*time.Millisecond)) // in the second of the act, after it
		start(other, 3, t0)
		e := act(account, t0.Add(time.Minute+300*time.Millisecond))
		apply(e)
		start(account, 4, t0.Add(time.Minute+time.Second))
		list := p.ForAccount(account, t0.Add(2*time.Minute))
		if len(list) != 1 || list[0].Digest != sha256.Sum256([]byte{4}) {
			t.Fatalf("after %s, sessions listed %+v, want only the one begun in a later second", e.EventType(), list)
		}
		if len(p.ForAccount(other, t0.Add(2*time.Minute))) != 1 {
			t.Fatalf("%s ended another account's session", e.EventType())
		}
	}
}
