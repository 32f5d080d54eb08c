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

// TestSignOutsFoldAndSweep checks that a signed-out session is known from its event on, and
// that sign-outs whose session has expired are swept as later sign-outs go by (by the time of
// the events, so a rebuild holds the same), after 1,024 of them.
func TestSignOutsFoldAndSweep(t *testing.T) {
	t.Parallel()
	p := projections.NewSignOuts()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	account := uuid.New()
	signOut := func(pos eventstore.Position, id [16]byte, until, at time.Time) {
		t.Helper()
		d := sha256.Sum256(id[:])
		if err := p.Apply(recorded(t, pos, domain.SignedOut{AccountID: account, SessionDigest: d[:], Until: until, At: at})); err != nil {
			t.Fatal(err)
		}
	}
	short, long := [16]byte{1}, [16]byte{2}
	if p.SignedOut(short) {
		t.Fatal("a session no event signed out is signed out")
	}
	signOut(1, short, t0.Add(time.Hour), t0)
	signOut(2, long, t0.Add(48*time.Hour), t0)
	if !p.SignedOut(short) || !p.SignedOut(long) || p.SignedOut([16]byte{3}) {
		t.Fatal("the signed-out sessions are not the ones the events name")
	}
	// 1,022 more sign-outs a day later: the 1,024th fold sweeps what expired by its time.
	later := t0.Add(24 * time.Hour)
	for i := range 1022 {
		signOut(eventstore.Position(3+i), [16]byte{9, byte(i), byte(i >> 8)}, later.Add(time.Hour), later)
	}
	if p.SignedOut(short) {
		t.Fatal("a sign-out whose session expired a day before was not swept")
	}
	if !p.SignedOut(long) || p.Len() != 1023 {
		t.Fatalf("after the sweep: long signed out %v, %d held; want true, 1023", p.SignedOut(long), p.Len())
	}
	p.Reset()
	if p.SignedOut(long) || p.Len() != 0 {
		t.Fatal("Reset left sign-outs")
	}
}
