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

// plain hides every optional capability of the store it holds.
type plain struct{ eventstore.Store }

// reader has only a head to read, as EventStoreDB's store.
type reader struct{ eventstore.Store }

func (reader) Head(context.Context) (eventstore.Position, error) { return 7, nil }

// multiReader appends to several streams and reads its head, as PostgreSQL's store.
type multiReader struct {
	reader
	eventstore.MultiStreamAppender
}

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
		head         bool // reads the log's head
	}{
		{"sqlite", st, true, true, false},
		{"a store without them", plain{st}, false, false, false},
		{"a store that reads its head", reader{st}, false, false, true},
		{"a store of several writers", multiReader{reader{st}, st}, false, true, true},
	} {
		w := personal.Wrap(c.inner, codec)
		_, heads := w.(eventstore.KnownHeads)
		_, multi := w.(eventstore.MultiStreamAppender)
		r, head := w.(eventstore.HeadReader)
		if heads != c.heads || multi != c.multi || head != c.head {
			t.Errorf("%s: known heads %v, multi-stream appends %v, head reads %v; want %v, %v, %v", c.name, heads, multi, head, c.heads, c.multi, c.head)
		}
		if head {
			if pos, err := r.Head(context.Background()); err != nil || pos != 7 {
				t.Errorf("%s: the head read through the sealing store is %d, %v; want the inner store's 7", c.name, pos, err)
			}
		}
		if personal.Unwrap(w) != c.inner {
			t.Errorf("%s: Unwrap does not give the inner store back", c.name)
		}
	}
}
