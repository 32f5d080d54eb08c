package personal_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/projections"
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

// ReadAll is ReadAllUnopened and then OpenAll, so that a reader may open a page's
// events on goroutines of its own (projections.OpeningReader): the unopened read holds the
// personal fields sealed, and opening it gives what ReadAll gives. Every variant of Wrap is
// such a reader.
func TestReadAllIsReadAllUnopenedThenOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, _ := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	codec := personal.NewCodec(personal.NewKeys(st, kr))
	w := personal.Wrap(st, codec)
	id := uuid.Must(uuid.NewV7())
	email, _ := domain.ParseEmail("opened@example.com")
	typ, ver, data, err := domain.Encode(domain.AccountRegistered{AccountID: id, Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(ctx, domain.AccountStream(id), eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data}); err != nil {
		t.Fatal(err)
	}
	o, ok := w.(projections.OpeningReader)
	if !ok {
		t.Fatalf("the sealing store over SQLite (%T) is not a projections.OpeningReader", w)
	}
	raw, err := o.ReadAllUnopened(ctx, eventstore.Start, 10)
	if err != nil || len(raw) != 1 {
		t.Fatalf("unopened read: %d events, %v", len(raw), err)
	}
	if bytes.Contains(raw[0].Data, []byte("opened@example.com")) || !bytes.Contains(raw[0].Data, []byte(personal.SealedField)) {
		t.Fatalf("the unopened event holds its email in the clear: %s", raw[0].Data)
	}
	opened, err := o.ReadAll(ctx, eventstore.Start, 10)
	if err != nil || len(opened) != 1 || !bytes.Contains(opened[0].Data, []byte("opened@example.com")) {
		t.Fatalf("ReadAll: %v, %v", opened, err)
	}
	if err := o.OpenAll(ctx, raw); err != nil || !bytes.Equal(raw[0].Data, opened[0].Data) {
		t.Fatalf("OpenAll of the unopened event gives %s (%v), ReadAll %s", raw[0].Data, err, opened[0].Data)
	}
	for _, inner := range []eventstore.Store{plain{st}, reader{st}, multiReader{reader{st}, st}} {
		if _, ok := personal.Wrap(inner, codec).(projections.OpeningReader); !ok {
			t.Errorf("the sealing store over %T is not a projections.OpeningReader", inner)
		}
	}
}
