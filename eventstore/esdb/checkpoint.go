package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Checkpoints of named consumers (the watermill bridge's Checkpoints) live in one stream per
// consumer, checkpointStreamPrefix + name, whose metadata keeps only the last event ($maxCount
// 1, so older checkpoints are removed by scavenging). Their events have a type starting with
// '$', so that $all readers and subscriptions skip them like the server's own events.
const (
	checkpointStreamPrefix = "assent-checkpoint-"
	checkpointEventType    = "$assent.checkpoint"
)

// checkpointData is the body of a checkpoint event.
type checkpointData struct {
	Position uint64 `json:"position"`
}

// ErrInvalidCheckpointName is returned for an empty consumer name.
var ErrInvalidCheckpointName = errors.New("esdb: the consumer name of a checkpoint is empty")

// LoadCheckpoint returns the position a named consumer last saved, or eventstore.Start.
//
// Checkpoints live in EventStoreDB, shared by every node: a consumer whose state is kept per
// node (an in-memory read model, a push hub) needs a name of its own on each node.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Position, error) {
	if name == "" {
		return 0, ErrInvalidCheckpointName
	}
	c, done, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer done()
	stream := checkpointStreamPrefix + name
	rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
	if err != nil {
		return 0, s.failure(ctx, c, err, "load checkpoint %q", name)
	}
	defer rs.Close()
	re, err := rs.Recv()
	switch {
	case isNotFound(err) || errors.Is(err, io.EOF):
		return eventstore.Start, nil
	case err != nil:
		return 0, s.failure(ctx, c, err, "load checkpoint %q", name)
	}
	pos, err := decodeCheckpoint(re.OriginalEvent().Data)
	if err != nil {
		return 0, fmt.Errorf("esdb load checkpoint %q: %w", name, err)
	}
	return pos, nil
}

// SaveCheckpoint records the position a named consumer has handled. It returns once the
// cluster has acknowledged the write.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos eventstore.Position) error {
	if name == "" {
		return ErrInvalidCheckpointName
	}
	c, done, err := s.acquire()
	if err != nil {
		return err
	}
	defer done()
	stream := checkpointStreamPrefix + name
	if err := s.limitCheckpointStream(ctx, c, stream); err != nil {
		return fmt.Errorf("esdb save checkpoint %q: %w", name, err)
	}
	data, err := json.Marshal(checkpointData{Position: uint64(pos)})
	if err != nil {
		return fmt.Errorf("esdb save checkpoint %q: %w", name, err)
	}
	ev := esdbclient.EventData{EventID: uuid.New(), EventType: checkpointEventType, ContentType: esdbclient.ContentTypeJson, Data: data}
	if _, err := c.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.Any{}}, ev); err != nil {
		return s.failure(ctx, c, err, "save checkpoint %q", name)
	}
	return nil
}

// limitCheckpointStream makes sure, once per stream and Store, that the checkpoint stream
// keeps only its last event.
func (s *Store) limitCheckpointStream(ctx context.Context, c *esdbclient.Client, stream string) error {
	s.cpMu.Lock()
	limited := s.cpLimits[stream]
	s.cpMu.Unlock()
	if limited {
		return nil
	}
	meta, err := c.GetStreamMetadata(ctx, stream, esdbclient.ReadStreamOptions{})
	switch {
	case isNotFound(err):
		meta = &esdbclient.StreamMetadata{}
	case err != nil:
		return s.failure(ctx, c, err, "read the metadata of %q", stream)
	}
	if mc := meta.MaxCount(); mc == nil || *mc != 1 {
		meta.SetMaxCount(1)
		if _, err := c.SetStreamMetadata(ctx, stream, esdbclient.AppendToStreamOptions{}, *meta); err != nil {
			return s.failure(ctx, c, err, "set $maxCount 1 on %q", stream)
		}
	}
	s.cpMu.Lock()
	s.cpLimits[stream] = true
	s.cpMu.Unlock()
	return nil
}

// decodeCheckpoint reads the position out of a checkpoint event's body.
func decodeCheckpoint(data []byte) (eventstore.Position, error) {
	var cp checkpointData
	if err := json.Unmarshal(data, &cp); err != nil {
		return 0, fmt.Errorf("decode checkpoint: %w", err)
	}
	return eventstore.Position(cp.Position), nil
}
