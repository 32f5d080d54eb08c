package personal_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/secrets"
)

// plain hides every optional capability of the store it holds, as PostgreSQL's has none of
// those below.
type plain struct{ eventstore.Store }

// The sealing store has the capabilities that change what a caller does only where the store
// under it has them: an application that saw known heads over a store of several writers would
// trust a stale cache.
func TestWrapPassesOnOnlyTheInnerCapabilities(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, _ := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	codec := personal.NewCodec(personal.NewKeys(st, kr))
	for _, c := range []struct {
		name         string
		inner        eventstore.Store
		heads, multi bool
	}{
		{"sqlite", st, true, true},
		{"a store without them", plain{st}, false, false},
	} {
		w := personal.Wrap(c.inner, codec)
		_, heads := w.(eventstore.KnownHeads)
		_, multi := w.(eventstore.MultiStreamAppender)
		if heads != c.heads || multi != c.multi {
			t.Errorf("%s: known heads %v, multi-stream appends %v; want %v, %v", c.name, heads, multi, c.heads, c.multi)
		}
		if personal.Unwrap(w) != c.inner {
			t.Errorf("%s: Unwrap does not give the inner store back", c.name)
		}
	}
}
