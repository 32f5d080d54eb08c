package personal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Store is an event store whose events carry their personal fields in the clear to its
// callers and sealed to the store under it: appends seal, reads and subscriptions open. What
// the log holds is what the inner store holds: a verifier or a backup reads the inner store.
type Store struct {
	inner eventstore.Store
	codec *Codec
}

var (
	_ eventstore.Store             = (*Store)(nil)
	_ eventstore.MultiStreamReader = (*Store)(nil)
	_ eventstore.HealthChecker     = (*Store)(nil)
)

// The capabilities that change what a caller does are passed on only where the inner store has
// them: an application that sees eventstore.KnownHeads trusts its cache without a read, one that
// sees eventstore.MultiStreamAppender appends to two streams at once, and one that sees
// eventstore.HeadReader (a store of several writers) waits for the log's head before it answers
// a reconnecting device. The variants are the combinations the backends have: the embedded store
// knows its heads and appends to several streams, PostgreSQL appends to several streams and
// reads its head, EventStoreDB reads its head.
type (
	headsPart  struct{ heads eventstore.KnownHeads }
	readerPart struct{ reader eventstore.HeadReader }
	multiPart  struct {
		s     *Store
		multi eventstore.MultiStreamAppender
	}
	storeHeads struct {
		*Store
		headsPart
	}
	storeMulti struct {
		*Store
		multiPart
	}
	storeBoth struct {
		*Store
		headsPart
		multiPart
	}
	storeReader struct {
		*Store
		readerPart
	}
	storeMultiReader struct {
		*Store
		multiPart
		readerPart
	}
)

var (
	_ eventstore.KnownHeads          = storeHeads{}
	_ eventstore.MultiStreamAppender = storeMulti{}
	_ eventstore.KnownHeads          = storeBoth{}
	_ eventstore.MultiStreamAppender = storeBoth{}
	_ eventstore.HeadReader          = storeReader{}
	_ eventstore.MultiStreamAppender = storeMultiReader{}
	_ eventstore.HeadReader          = storeMultiReader{}
)

// Wrap returns inner with the codec's sealing. The result knows its streams' heads
// (eventstore.KnownHeads), appends to several streams at once (eventstore.MultiStreamAppender)
// and reads the log's head (eventstore.HeadReader) when inner does; known heads and a head
// reader together (no backend has both: one writer needs no head read) keep the known heads.
func Wrap(inner eventstore.Store, codec *Codec) eventstore.Store {
	s := &Store{inner: inner, codec: codec}
	h, hasHeads := inner.(eventstore.KnownHeads)
	m, hasMulti := inner.(eventstore.MultiStreamAppender)
	r, hasReader := inner.(eventstore.HeadReader)
	switch {
	case hasHeads && hasMulti:
		return storeBoth{Store: s, headsPart: headsPart{h}, multiPart: multiPart{s, m}}
	case hasHeads:
		return storeHeads{Store: s, headsPart: headsPart{h}}
	case hasMulti && hasReader:
		return storeMultiReader{Store: s, multiPart: multiPart{s, m}, readerPart: readerPart{r}}
	case hasMulti:
		return storeMulti{Store: s, multiPart: multiPart{s, m}}
	case hasReader:
		return storeReader{Store: s, readerPart: readerPart{r}}
	}
	return s
}

// Unwrap returns the store under s, or s itself when it is not a sealing store.
func Unwrap(s eventstore.Store) eventstore.Store {
	if w, ok := s.(interface{ sealedInner() eventstore.Store }); ok {
		return w.sealedInner()
	}
	return s
}

// sealedInner is the store under s; every variant of Wrap has it through the embedded *Store.
func (s *Store) sealedInner() eventstore.Store { return s.inner }

func (s *Store) seal(ctx context.Context, events []eventstore.EventData) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		var err error
		if out[i], err = s.codec.Seal(ctx, ev); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) open(ctx context.Context, evs []eventstore.RecordedEvent) error {
	return s.codec.OpenAll(ctx, evs)
}

// OpenAll opens events read with ReadAllUnopened, in place (Codec.OpenAll): ReadAll is
// ReadAllUnopened and then OpenAll.
func (s *Store) OpenAll(ctx context.Context, evs []eventstore.RecordedEvent) error {
	return s.codec.OpenAll(ctx, evs)
}

// Append seals the events' personal fields and appends them.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	sealed, err := s.seal(ctx, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	return s.inner.Append(ctx, stream, expected, sealed...)
}

// ReadStream reads and opens a stream's events.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	evs, err := s.inner.ReadStream(ctx, stream, opts)
	if err != nil {
		return nil, err
	}
	return evs, s.open(ctx, evs)
}

// ReadAll reads and opens events of the global log.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	evs, err := s.inner.ReadAll(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	return evs, s.open(ctx, evs)
}

// ReadAllUnopened reads events of the global log as they are stored, their personal fields
// still sealed: ReadAll is ReadAllUnopened and then OpenAll. A reader that opens
// the events of a page on several goroutines (projections.OpeningReader, the read models'
// rebuild) reads them so.
func (s *Store) ReadAllUnopened(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	return s.inner.ReadAll(ctx, after, limit)
}

// ReadStreams reads and opens several streams, merged in global order; over a store that
// cannot, it reads them one by one.
func (s *Store) ReadStreams(ctx context.Context, streams []string) ([]eventstore.RecordedEvent, error) {
	var evs []eventstore.RecordedEvent
	if m, ok := s.inner.(eventstore.MultiStreamReader); ok {
		var err error
		if evs, err = m.ReadStreams(ctx, streams); err != nil {
			return nil, err
		}
	} else {
		for _, st := range streams {
			part, err := s.inner.ReadStream(ctx, st, eventstore.ReadStreamOptions{})
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			evs = append(evs, part...)
		}
		slices.SortFunc(evs, func(a, b eventstore.RecordedEvent) int { return cmp.Compare(a.Position, b.Position) })
	}
	return evs, s.open(ctx, evs)
}

// Subscribe subscribes to the inner store and opens every event it delivers.
func (s *Store) Subscribe(ctx context.Context, from eventstore.SubscribeFrom) (eventstore.Subscription, error) {
	sub, err := s.inner.Subscribe(ctx, from)
	if err != nil {
		return nil, err
	}
	return &subscription{inner: sub, store: s, ctx: ctx}, nil
}

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }

// KnownHead passes the inner store's known heads on: sealing changes no version or ID.
func (p headsPart) KnownHead(stream string) (uint64, uuid.UUID, bool) {
	return p.heads.KnownHead(stream)
}

// Head passes the inner store's head on: sealing changes no position.
func (p headsPart) Head() eventstore.Position { return p.heads.Head() }

// Head passes the inner store's head on: sealing changes no position.
func (p readerPart) Head(ctx context.Context) (eventstore.Position, error) {
	return p.reader.Head(ctx)
}

// Health asks the inner store, or reads one event of it when it cannot tell.
func (s *Store) Health(ctx context.Context) error {
	if h, ok := s.inner.(eventstore.HealthChecker); ok {
		return h.Health(ctx)
	}
	_, err := s.inner.ReadAll(ctx, eventstore.Start, 1)
	return err
}

// AppendMulti seals every part's events and appends them at once.
func (m multiPart) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	out := make([]eventstore.StreamAppend, len(parts))
	for i, p := range parts {
		sealed, err := m.s.seal(ctx, p.Events)
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", p.Stream, err)
		}
		out[i] = eventstore.StreamAppend{Stream: p.Stream, Expected: p.Expected, Events: sealed}
	}
	return m.multi.AppendMulti(ctx, out...)
}

type subscription struct {
	inner eventstore.Subscription
	store *Store
	ctx   context.Context
}

func (sub *subscription) Recv() (eventstore.Message, error) {
	msg, err := sub.inner.Recv()
	if err != nil || msg.Event == nil {
		return msg, err
	}
	ev := *msg.Event
	if ev.Data, err = sub.store.codec.Open(sub.ctx, &ev); err != nil {
		return eventstore.Message{}, err
	}
	msg.Event = &ev
	return msg, nil
}

func (sub *subscription) Close() error { return sub.inner.Close() }

// Open opens the personal fields of an event read from the inner store (Codec.Open), for a
// reader of the inner store that shows events (the audit's exports).
func (s *Store) Open(ctx context.Context, ev *eventstore.RecordedEvent) ([]byte, error) {
	return s.codec.Open(ctx, ev)
}
