package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/assent-dev/assent/eventstore"
)

// noLimit is the count asked of the server for a read without a limit.
const noLimit = math.MaxInt32

// allPage bounds how many events of $all a read asks the server for at a time: the limit,
// one more for the event at the starting position, and some room for hidden events.
const (
	minAllPage = 32
	maxAllPage = 4096
)

// ReadStream implements eventstore.Store. A stream that does not exist, or was deleted, is
// eventstore.ErrStreamNotFound.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	ro := esdbclient.ReadStreamOptions{From: esdbclient.Revision(opts.From)}
	if opts.Direction == eventstore.Backwards {
		ro.Direction = esdbclient.Backwards
		if opts.FromEnd {
			ro.From = esdbclient.End{}
		}
	}
	count := uint64(noLimit)
	if opts.Limit > 0 {
		count = uint64(opts.Limit)
	}
	c, done, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer done()
	evs, err := s.readStream(ctx, c, stream, ro, count)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("esdb read stream %q: %w", stream, err)
	}
	return evs, nil
}

// readStream reads up to count events of one stream. A missing stream is the client's
// not-found error (see isNotFound).
func (s *Store) readStream(ctx context.Context, c *esdbclient.Client, stream string, opts esdbclient.ReadStreamOptions, count uint64) ([]eventstore.RecordedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return nil, s.failure(ctx, c, err, "read %q", stream)
	}
	defer rs.Close()
	evs := make([]eventstore.RecordedEvent, 0, min(count, 64))
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			if isNotFound(err) {
				return nil, err
			}
			return nil, s.failure(ctx, c, err, "read %q", stream)
		}
		ev, err := fromRecorded(re.OriginalEvent())
		if err != nil {
			return nil, fmt.Errorf("esdb read %q: %w", stream, err)
		}
		evs = append(evs, ev)
	}
}

// isNotFound reports whether err is the client's answer for a stream that does not exist or
// was deleted.
func isNotFound(err error) bool {
	var ee *esdbclient.Error
	return errors.As(err, &ee) &&
		(ee.IsErrorCode(esdbclient.ErrorCodeResourceNotFound) || ee.IsErrorCode(esdbclient.ErrorCodeStreamDeleted))
}

// ReadAll implements eventstore.Store. It reads $all forwards from the event at 'after' and
// keeps Assent's events (see hidden) that come after it, paging until it has limit events or
// has reached the end of $all.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("esdb read all: limit must be positive, got %d", limit)
	}
	c, done, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer done()
	out := make([]eventstore.RecordedEvent, 0, min(limit, 1024))
	page := uint64(min(max(limit+1, minAllPage), maxAllPage))
	for cursor := after; ; {
		n, last, err := s.readAllPage(ctx, c, cursor, page, func(ev eventstore.RecordedEvent) bool {
			out = append(out, ev)
			return len(out) < limit
		})
		if err != nil {
			return nil, err
		}
		// Done when the page was short (the end of $all), the caller has enough, or nothing
		// moved (which a well-behaved server never causes).
		if n < page || len(out) >= limit || last <= cursor {
			return out, nil
		}
		cursor = last
	}
}

// readAllPage reads up to page events of $all from the event at cursor, hands keep the
// visible ones after cursor until it returns false, and returns how many events the server
// sent and the position of the last one looked at.
func (s *Store) readAllPage(ctx context.Context, c *esdbclient.Client, cursor eventstore.Position, page uint64, keep func(eventstore.RecordedEvent) bool) (uint64, eventstore.Position, error) {
	rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{From: allPosition(cursor)}, page)
	if err != nil {
		return 0, cursor, s.failure(ctx, c, err, "read all")
	}
	defer rs.Close()
	var n uint64
	last := cursor
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, last, nil
		}
		if err != nil {
			return n, last, s.failure(ctx, c, err, "read all after %d", last)
		}
		n++
		rec := re.OriginalEvent()
		pos := positionOf(rec.Position)
		// The event at the starting position itself comes first: it is not after cursor.
		if pos <= cursor {
			continue
		}
		last = pos
		if hidden(rec.StreamID, rec.EventType) {
			continue
		}
		ev, err := fromRecorded(rec)
		if err != nil {
			return n, last, fmt.Errorf("esdb read all: %w", err)
		}
		if !keep(ev) {
			// The caller has enough: n is reported as a full page so that it stops on its own
			// test, and last is this event.
			return page, last, nil
		}
	}
}

// Head returns the commit position of the last event of $all (system events included), or
// eventstore.Start for an empty log: a subscription After(Head) sees only what comes next.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	c, done, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer done()
	rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
	if err != nil {
		return 0, s.failure(ctx, c, err, "read head")
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return eventstore.Start, nil
	}
	if err != nil {
		return 0, s.failure(ctx, c, err, "read head")
	}
	return positionOf(re.OriginalEvent().Position), nil
}
