package sqlite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/assent-dev/assent/eventstore"
)

var _ eventstore.MultiStreamReader = (*Store)(nil)

// ReadStreams implements eventstore.MultiStreamReader: the positions of the streams' events
// come from stream_index in one query, and from the writer's tail (looked at first, as in
// ReadStream), then the events are read by position in one more. Each stream is checked as a
// ReadStream of it would be.
func (s *Store) ReadStreams(ctx context.Context, streams []string) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	evs, err := s.readStreams(ctx, streams)
	if err != nil {
		return nil, fmt.Errorf("sqlite read streams: %w", s.noteRead(err))
	}
	return evs, nil
}

func (s *Store) readStreams(ctx context.Context, streams []string) ([]eventstore.RecordedEvent, error) {
	head := int64(s.head.Load())
	of := map[eventstore.Position]string{} // each position and the stream its entry names
	for _, st := range streams {
		for _, e := range s.tail.entries(st, head) {
			of[eventstore.Position(e.position)] = st
		}
	}
	list, err := json.Marshal(streams)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT stream, position FROM stream_index WHERE stream IN (SELECT value FROM json_each(?)) AND position <= ?`, string(list), head)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st  string
			pos int64
		)
		if err := rows.Scan(&st, &pos); err != nil {
			return nil, err
		}
		of[eventstore.Position(pos)] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	positions := make([]eventstore.Position, 0, len(of))
	for p := range of {
		positions = append(positions, p)
	}
	slices.Sort(positions)
	evs, err := s.readPositions(ctx, positions)
	if err != nil {
		return nil, err
	}
	if len(evs) != len(positions) {
		return nil, fmt.Errorf("%w: %d entries of the streams point at no event", ErrIndexMismatch, len(positions)-len(evs))
	}
	byStream := map[string][]eventstore.RecordedEvent{}
	for i := range evs {
		st := of[evs[i].Position]
		byStream[st] = append(byStream[st], evs[i])
	}
	for st, got := range byStream {
		if err := s.checkRead(st, eventstore.ReadStreamOptions{}, got, head); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(evs, func(a, b eventstore.RecordedEvent) int { return cmp.Compare(a.Position, b.Position) })
	return evs, nil
}
