package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/personal"
)

// secretFields are the JSON names of the fields the event types tag `assent:"secret"` (an
// argon2id password hash, a sealed TOTP secret, backup-code hashes, an OpenID Connect signing
// key...): audit output replaces their values with Redacted; the summary says that the secret
// was set or used. The tags are the one list: a new secret field is redacted by being tagged.
var secretFields = func() map[string]bool {
	out := map[string]bool{}
	for _, n := range domain.Events.SecretNames() {
		out[n] = true
	}
	return out
}()

// Redacted replaces every secret value in audit output.
const Redacted = "[redacted]"

// Redact returns data with the value of every secret field, at any depth, replaced by
// Redacted. Data that is not JSON is replaced whole.
func Redact(data []byte) json.RawMessage {
	if !mayHoldSecret(data) && json.Valid(data) {
		return data
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`"` + Redacted + `"`)
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return json.RawMessage(`"` + Redacted + `"`)
	}
	return out
}

// mayHoldSecret is a fast test: data that names no secret field needs no parsing.
func mayHoldSecret(data []byte) bool {
	for _, f := range secretFieldNames {
		if bytes.Contains(data, f) {
			return true
		}
	}
	return false
}

var secretFieldNames = func() [][]byte {
	var out [][]byte
	for f := range secretFields {
		out = append(out, []byte(`"`+f+`"`))
	}
	return out
}()

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if secretFields[k] {
				v[k] = Redacted
			} else {
				v[k] = redactValue(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = redactValue(x)
		}
	}
	return v
}

// EventView is an event as auditors see it: metadata, a one-line summary and the data with
// secrets redacted. Export adds the chain fields.
type EventView struct {
	Position      uint64          `json:"position"`
	Stream        string          `json:"stream"`
	Version       uint64          `json:"version"`
	ID            uuid.UUID       `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Actor         string          `json:"actor,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Summary       string          `json:"summary"`
	Data          json.RawMessage `json:"data"`
	// Chain fields, in exports only: with them (and no data) an exported log's chain can be
	// recomputed with eventstore.ChainHashWithData.
	PrevHash string `json:"prev_hash,omitempty"`
	DataHash string `json:"data_sha256,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// View returns the auditor's view of ev.
func View(ev *eventstore.RecordedEvent) EventView {
	return EventView{
		Position: uint64(ev.Position), Stream: ev.Stream, Version: ev.Version, ID: ev.ID, Type: ev.Type,
		SchemaVersion: ev.SchemaVersion, RecordedAt: ev.Metadata.RecordedAt, Actor: ev.Metadata.Actor,
		CorrelationID: ev.Metadata.CorrelationID, CausationID: ev.Metadata.CausationID,
		Summary: Summarize(ev), Data: Redact(personal.MarkErased(ev.Type, ev.Data)),
	}
}

// Views returns the auditor's view of each event, computed on every core.
func Views(evs []eventstore.RecordedEvent) []EventView {
	out := make([]EventView, len(evs))
	workers := min(runtime.GOMAXPROCS(0), 1+len(evs)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(evs); i += workers {
				out[i] = View(&evs[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// ExportView is View with the chain fields.
func ExportView(ev *eventstore.ChainedEvent) EventView {
	v := View(&ev.RecordedEvent)
	v.PrevHash = ev.PrevHash.String()
	v.DataHash = eventstore.DataHash(ev.Data).String()
	v.Hash = ev.Hash().String()
	return v
}

// Opener opens the personal fields of a stored event (personal.Codec.Open): the data as it was
// written while the owner's key exists, the fields absent and marked erased after.
type Opener interface {
	Open(ctx context.Context, ev *eventstore.RecordedEvent) ([]byte, error)
}

// OpenedView is View with the event's personal fields opened by o, and shown as
// personal.ErasedValue where they were erased. With a nil o, or when the event does not open,
// the data is shown as stored (sealed fields are then unreadable).
func OpenedView(ctx context.Context, o Opener, ev *eventstore.RecordedEvent) EventView {
	return View(opened(ctx, o, ev))
}

// OpenedExportView is ExportView with the data shown as OpenedView shows it; the chain fields
// are those of the stored bytes, so that the export still verifies.
func OpenedExportView(ctx context.Context, o Opener, ev *eventstore.ChainedEvent) EventView {
	v := ExportView(ev)
	shown := View(opened(ctx, o, &ev.RecordedEvent))
	v.Summary, v.Data = shown.Summary, shown.Data
	return v
}

func opened(ctx context.Context, o Opener, ev *eventstore.RecordedEvent) *eventstore.RecordedEvent {
	if o == nil {
		return ev
	}
	data, err := o.Open(ctx, ev)
	if err != nil {
		return ev
	}
	c := *ev
	c.Data = data
	return &c
}
