package app

import (
	"errors"
	"fmt"
	"testing"

	"github.com/assent-dev/assent/domain"
)

// A query on a store that is the only writer of its log answers with everything the log
// holds, not only with what its own service appended: whoever heard of an event from a
// subscription (a login page told by the push hub that its challenge was approved) may ask
// before the append that wrote it has returned to the service. Here the accounts are written
// by one service and read at once through another on the same store and read models, which
// has appended nothing.
func TestQueriesSeeWhatTheLogHoldsNotOnlyTheirOwnWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.DefaultPolicy())
	reader, err := New(Config{Store: f.store, Keyring: f.s.keyring, Projections: f.views, Policy: f.s.policy, Clock: f.clock.Now, Snapshots: f.s.snapshots})
	if err != nil {
		t.Fatal(err)
	}
	if reader.heads == nil {
		t.Fatal("the service did not take the store's known heads")
	}
	for i := range 20 {
		id := f.account(fmt.Sprintf("seen-%d@example.com", i))
		if reader.Written() != 0 {
			t.Fatalf("the reading service appended up to %d", reader.Written())
		}
		if _, err := reader.Account(f.ctx, id); errors.Is(err, domain.ErrAccountNotFound) {
			t.Fatalf("account %d: the log holds it, the query did not wait for it: %v", i, err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
}
