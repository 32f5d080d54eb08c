package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/assent-dev/assent/eventstore"
)

// subscriptionPage is how many events a subscription reads from the file at a time.
const subscriptionPage = 512

// Subscribe implements eventstore.Store. Each subscription reads the file at its own pace
// from its own cursor; the writer only wakes it, so a slow subscription never blocks appends.
// Because one goroutine commits in position order, a committed position P means every position
// below P is committed too: reading "after the cursor" never skips an event.
func (s *Store) Subscribe(ctx context.Context, from eventstore.SubscribeFrom) (eventstore.Subscription, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	cursor := from.Position()
	if from.IsEnd() {
		cursor = s.Head()
	}
	ctx, cancel := context.WithCancel(ctx)
	return &subscription{store: s, ctx: ctx, cancel: cancel, cursor: cursor, urgent: from.IsUrgent()}, nil
}

type subscription struct {
	store  *Store
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards closed
	closed   bool
	cursor   eventstore.Position
	buf      []eventstore.RecordedEvent
	caughtUp bool
	urgent   bool // woken after the appenders (eventstore.SubscribeFrom.Urgent)
}

func (sub *subscription) Recv() (eventstore.Message, error) {
	for {
		if len(sub.buf) > 0 {
			ev := sub.buf[0]
			sub.buf = sub.buf[1:]
			sub.cursor = ev.Position
			return eventstore.Message{Event: &ev}, nil
		}
		if err := sub.err(); err != nil {
			return eventstore.Message{}, err
		}
		// Take the wake-up channel before reading, so that a commit landing between the read and
		// the wait is not missed.
		wake := sub.store.notifyChan(sub.urgent)
		if head := sub.store.Head(); head > sub.cursor {
			// A live subscription takes new events from memory; one further behind reads the file.
			if evs, ok := sub.store.recent.after(sub.cursor, head, subscriptionPage); ok && len(evs) > 0 {
				sub.buf = evs
				continue
			}
			evs, err := sub.store.ReadAll(sub.ctx, sub.cursor, subscriptionPage)
			if err != nil {
				if e := sub.err(); e != nil {
					return eventstore.Message{}, e
				}
				if errors.Is(err, sql.ErrConnDone) {
					return eventstore.Message{}, eventstore.ErrClosed
				}
				return eventstore.Message{}, fmt.Errorf("sqlite subscription: %w", err)
			}
			if len(evs) > 0 {
				sub.buf = evs
				continue
			}
		}
		if !sub.caughtUp {
			sub.caughtUp = true
			return eventstore.Message{CaughtUp: true}, nil
		}
		select {
		case <-wake:
		case <-sub.ctx.Done():
		}
	}
}

func (sub *subscription) err() error {
	sub.mu.Lock()
	closed := sub.closed
	sub.mu.Unlock()
	switch {
	case closed:
		return eventstore.ErrClosed
	case sub.store.closed.Load():
		return eventstore.ErrClosed
	}
	return sub.ctx.Err()
}

func (sub *subscription) Close() error {
	sub.mu.Lock()
	sub.closed = true
	sub.mu.Unlock()
	sub.cancel()
	return nil
}

var _ eventstore.Checkpoints = (*Store)(nil)

// LoadCheckpoint returns the position a named consumer last saved, or Start.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	var pos int64
	err := s.queryRow(ctx, `SELECT position FROM checkpoints WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite load checkpoint %q: %w", name, err)
	}
	return eventstore.Position(pos), nil
}

// SaveCheckpoint durably records the position a named consumer has handled. It shares the
// writer's transactions with appends.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos eventstore.Position) error {
	req := &writeReq{ctx: ctx, checkpoint: &checkpointWrite{name: name, position: pos}}
	if err := s.submit(ctx, req); err != nil {
		return err
	}
	return req.err
}
