package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore"
)

// subscriptionPage is how many events a subscription reads at a time.
const subscriptionPage = 512

// Delays of a subscription that sees committed events past the horizon, held back by an older
// transaction still running: it reads again after minBlockedDelay, doubling up to the poll
// interval, since a transaction that rolls back sends no notification.
const minBlockedDelay = 5 * time.Millisecond

// Subscribe implements eventstore.Store. Each subscription reads the table at its own pace from
// its own cursor, and reads only below the horizon, so it never skips an event that commits
// late. It reads again when a notification on notifyChannel arrives (from any node), when the
// same store appends, and every PollInterval as a fallback.
func (s *Store) Subscribe(ctx context.Context, from eventstore.SubscribeFrom) (eventstore.Subscription, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	cursor := from.Position()
	var skip map[eventstore.Position]bool
	var history int64
	var err error
	if from.IsEnd() {
		if cursor, skip, err = s.end(ctx); err != nil {
			return nil, err
		}
	} else if err = s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&history); err != nil {
		return nil, fmt.Errorf("postgres subscribe: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &subscription{store: s, ctx: ctx, cancel: cancel, cursor: cursor, skip: skip, history: eventstore.Position(history)}, nil
}

// end returns where a subscription from the end starts: after the visible head, skipping the
// events already committed above the horizon (behind an older transaction still running),
// which were appended before the subscription too. Both come from one snapshot.
func (s *Store) end(ctx context.Context) (eventstore.Position, map[eventstore.Position]bool, error) {
	var head int64
	var above []int64
	err := s.pool.QueryRow(ctx, `WITH h AS (SELECT `+horizon+` AS h)
		SELECT coalesce((SELECT max(position) FROM events, h WHERE position < h.h), 0),
			coalesce((SELECT array_agg(position) FROM events, h WHERE position >= h.h), '{}')`).Scan(&head, &above)
	if err != nil {
		return 0, nil, fmt.Errorf("postgres subscribe: %w", err)
	}
	var skip map[eventstore.Position]bool
	if len(above) > 0 {
		skip = make(map[eventstore.Position]bool, len(above))
		for _, p := range above {
			skip[eventstore.Position(p)] = true
		}
	}
	return eventstore.Position(head), skip, nil
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
	skip     map[eventstore.Position]bool // committed before a subscription from the end began
	// history is the last position committed when the subscription began: CaughtUp comes once
	// the cursor reaches it, even if an older transaction holds part of it above the horizon.
	history eventstore.Position
	blocked time.Duration // the next delay while the horizon holds events back; 0: not held
}

func (sub *subscription) Recv() (eventstore.Message, error) {
	for {
		if len(sub.buf) > 0 {
			ev := sub.buf[0]
			sub.buf = sub.buf[1:]
			sub.cursor = ev.Position
			if sub.skip[ev.Position] {
				delete(sub.skip, ev.Position)
				continue
			}
			return eventstore.Message{Event: &ev}, nil
		}
		if err := sub.err(); err != nil {
			return eventstore.Message{}, err
		}
		// Take the wake-up channel before reading, so that a commit landing between the read and
		// the wait is not missed.
		wake := sub.store.wakeChan()
		evs, err := sub.store.ReadAll(sub.ctx, sub.cursor, subscriptionPage)
		if err != nil {
			if e := sub.err(); e != nil {
				return eventstore.Message{}, e
			}
			return eventstore.Message{}, fmt.Errorf("postgres subscription: %w", err)
		}
		if len(evs) > 0 {
			sub.buf, sub.blocked = evs, 0
			continue
		}
		if !sub.caughtUp && sub.cursor >= sub.history {
			sub.caughtUp = true
			return eventstore.Message{CaughtUp: true}, nil
		}
		delay, err := sub.nextDelay()
		if err != nil {
			if e := sub.err(); e != nil {
				return eventstore.Message{}, e
			}
			return eventstore.Message{}, fmt.Errorf("postgres subscription: %w", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-wake:
		case <-t.C:
		case <-sub.ctx.Done():
		}
		t.Stop()
	}
}

// nextDelay is how long a caught-up subscription waits for a wake-up before it reads again.
func (sub *subscription) nextDelay() (time.Duration, error) {
	poll := sub.store.opts.PollInterval
	var held bool
	err := sub.store.pool.QueryRow(sub.ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE position > $1)`, int64(sub.cursor)).Scan(&held)
	if err != nil {
		return 0, err
	}
	if !held {
		sub.blocked = 0
		return poll, nil
	}
	if sub.blocked == 0 {
		sub.blocked = minBlockedDelay
	}
	d := sub.blocked
	sub.blocked = min(2*sub.blocked, poll)
	return d, nil
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

// listen holds a connection that LISTENs on notifyChannel and wakes the subscriptions at each
// notification, reconnecting with a growing delay when the connection is lost. Every
// (re)connection wakes them too, for what was missed meanwhile.
func (s *Store) listen(cfg *pgx.ConnConfig) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg, func() { delay = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		s.opts.Logger.Warn("postgres: notifications lost, reconnecting; subscriptions poll meanwhile", "err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	connected()
	s.wakeAll()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.wakeAll()
	}
}

// announce asks the notifier to tell every node that new events are committed.
func (s *Store) announce() {
	select {
	case s.announced <- struct{}{}:
	default: // one is pending already: it covers this append too
	}
}

// notify sends pg_notify(notifyChannel) after appends, outside their transactions: a NOTIFY in
// the appending transaction takes a lock that serializes the commits of the whole database.
// Appends that commit while a notification is being sent share the next one. If the process
// dies between a commit and its notification, other nodes find the events by polling.
func (s *Store) notify() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.announced:
		}
		if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("postgres: notification not sent; other nodes will poll", "err", err)
		}
	}
}

// LoadCheckpoint returns the position a named consumer last saved, or Start.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, `SELECT position FROM checkpoints WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres load checkpoint %q: %w", name, err)
	}
	return eventstore.Position(pos), nil
}

// SaveCheckpoint durably records the position a named consumer has handled.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos eventstore.Position) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO checkpoints (name, position, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`, name, int64(pos))
	if err != nil {
		return fmt.Errorf("postgres save checkpoint %q: %w", name, err)
	}
	return nil
}
