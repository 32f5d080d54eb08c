package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/assent-dev/assent/eventstore"
)

// headSearch bounds how many of the newest events of $all Subscribe looks through for the
// newest event that Assent sees.
const headSearch = 1024

// Subscribe implements eventstore.Store with a catch-up subscription to $all. The server
// filters out events whose type starts with '$'; the subscription also skips events of system
// streams and checkpoints (see hidden). Starting after a position p, the server is given
// {Commit: p, Prepare: p}.
//
// CaughtUp is delivered once, at the first of: the server's caught-up message (sent by recent
// servers), the delivery of the newest visible event that existed when Subscribe was called,
// or a server checkpoint at or after it. A subscription the server drops (a lost connection,
// a leader election) ends with an error: subscribe again after the last event handled, as the
// watermill bridge does.
func (s *Store) Subscribe(ctx context.Context, from eventstore.SubscribeFrom) (eventstore.Subscription, error) {
	c, done, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer done()
	sub := &subscription{store: s, ctx: ctx, last: from.Position()}
	start := allPosition(from.Position())
	if from.IsEnd() {
		start, sub.last, sub.pendingCaughtUp = esdbclient.End{}, 0, true
	} else {
		if sub.head, err = s.visibleHead(ctx, c); err != nil {
			return nil, err
		}
		sub.pendingCaughtUp = sub.head <= from.Position()
	}
	sub.inner, err = c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
		From:   start,
		Filter: esdbclient.ExcludeSystemEventsFilter(),
	})
	if err != nil {
		return nil, s.failure(ctx, c, err, "subscribe %s", from)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sub.inner.Close()
		return nil, eventstore.ErrClosed
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

// visibleHead returns the position of the newest event of $all that a subscription delivers,
// looking through at most headSearch events; if it finds none there, the position of the
// newest event of all. An empty $all gives Start.
func (s *Store) visibleHead(ctx context.Context, c *esdbclient.Client) (eventstore.Position, error) {
	const page = 256
	var newest eventstore.Position
	var from esdbclient.AllPosition = esdbclient.End{}
	for seen := 0; seen < headSearch; {
		rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, page)
		if err != nil {
			return 0, s.failure(ctx, c, err, "subscribe: read the head of $all")
		}
		n, found, oldest, err := scanBackwards(rs, &newest)
		rs.Close()
		if err != nil {
			return 0, s.failure(ctx, c, err, "subscribe: read the head of $all")
		}
		if found != 0 {
			return found, nil
		}
		if n < page || oldest == 0 {
			break
		}
		seen += n
		from = esdbclient.Position{Commit: uint64(oldest), Prepare: uint64(oldest)}
	}
	return newest, nil
}

// scanBackwards reads one backwards page of $all. It records the first position it sees in
// newest (if still 0) and returns how many events came, the position of the first visible
// one (0 if none), and the oldest position seen.
func scanBackwards(rs *esdbclient.ReadStream, newest *eventstore.Position) (n int, found, oldest eventstore.Position, err error) {
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, 0, oldest, nil
		}
		if err != nil {
			return n, 0, oldest, err
		}
		n++
		rec := re.OriginalEvent()
		oldest = positionOf(rec.Position)
		if *newest == 0 {
			*newest = oldest
		}
		if !hidden(rec.StreamID, rec.EventType) {
			return n, oldest, oldest, nil
		}
	}
}

// subscription is a catch-up subscription to $all. Recv is called by one goroutine; Close
// may be called from any.
type subscription struct {
	store *Store
	ctx   context.Context
	inner *esdbclient.Subscription

	closed          atomic.Bool
	last            eventstore.Position // position of the last event looked at
	head            eventstore.Position // CaughtUp once an event at or after it is seen
	caughtUp        bool
	pendingCaughtUp bool
}

// Recv implements eventstore.Subscription.
func (sub *subscription) Recv() (eventstore.Message, error) {
	for {
		if sub.pendingCaughtUp {
			sub.pendingCaughtUp, sub.caughtUp = false, true
			return eventstore.Message{CaughtUp: true}, nil
		}
		if err := sub.err(); err != nil {
			return eventstore.Message{}, err
		}
		e := sub.inner.Recv()
		switch {
		case e.SubscriptionDropped != nil:
			if err := sub.err(); err != nil {
				return eventstore.Message{}, err
			}
			return eventstore.Message{}, fmt.Errorf("esdb subscription dropped: %w", e.SubscriptionDropped.Error)
		case e.EventAppeared != nil:
			rec := e.EventAppeared.OriginalEvent()
			pos := positionOf(rec.Position)
			if pos <= sub.last {
				continue // the starting event, or one delivered already
			}
			sub.last = pos
			if !sub.caughtUp && pos >= sub.head {
				sub.pendingCaughtUp = true
			}
			if hidden(rec.StreamID, rec.EventType) {
				continue
			}
			ev, err := fromRecorded(rec)
			if err != nil {
				return eventstore.Message{}, fmt.Errorf("esdb subscription: %w", err)
			}
			return eventstore.Message{Event: &ev}, nil
		case e.CheckPointReached != nil:
			if !sub.caughtUp && positionOf(*e.CheckPointReached) >= sub.head {
				sub.pendingCaughtUp = true
			}
		case e.CaughtUp != nil:
			if !sub.caughtUp {
				sub.pendingCaughtUp = true
			}
		}
	}
}

// err returns why the subscription ended, or nil.
func (sub *subscription) err() error {
	if sub.closed.Load() || sub.store.isClosed() {
		return eventstore.ErrClosed
	}
	return sub.ctx.Err()
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	if sub.closed.Swap(true) {
		return nil
	}
	sub.inner.Close()
	sub.store.mu.Lock()
	delete(sub.store.subs, sub)
	sub.store.mu.Unlock()
	return nil
}
