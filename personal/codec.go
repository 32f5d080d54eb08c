package personal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// The JSON members sealing adds to an event.
const (
	// SealedField holds, in a stored event, the personal fields sealed under the owner's key:
	// base64 of the AES-256-GCM ciphertext of a JSON object from each field's dotted path to
	// its value.
	SealedField = "sealed_personal"
	// ErasedField is true in an event read back after its owner's key was destroyed: its
	// personal fields are absent (zero values to the domain).
	ErasedField = "personal_erased"
	// ErasedValue stands for an erased field where the data is shown (audit replays, exports).
	ErasedValue = "[erased]"
)

var sealedMember = []byte(`"` + SealedField + `"`)

// Codec seals the personal fields of events on their way into the store and opens them on
// their way out. It is safe for concurrent use.
type Codec struct {
	keys     *Keys
	registry *domain.Registry
}

// NewCodec returns the codec of the Events registry's types, with keys.
func NewCodec(keys *Keys) *Codec { return &Codec{keys: keys, registry: domain.Events} }

// Keys returns the codec's keys.
func (c *Codec) Keys() *Keys { return c.keys }

func sealAD(typ string, id uuid.UUID) []byte {
	return []byte("assent.personal|" + typ + "|" + id.String())
}

// personalFields returns the personal fields of typ and its owner field.
func (c *Codec) personalFields(typ string) (personal []domain.Field, owner string) {
	for _, f := range c.registry.Fields(typ) {
		if f.Personal {
			personal = append(personal, f)
		}
		if f.Owner {
			owner = f.Path[0]
		}
	}
	return personal, owner
}

// Seal returns ev with its personal fields sealed under the owner's key: removed from the
// JSON and put, sealed, in SealedField. An event with no personal field set is returned as it
// is, and so is every event when the codec keeps no keys. The event's Data is not changed.
func (c *Codec) Seal(ctx context.Context, ev eventstore.EventData) (eventstore.EventData, error) {
	personal, ownerField := c.personalFields(ev.Type)
	if len(personal) == 0 || !c.keys.Enabled() {
		return ev, nil
	}
	m, err := decodeObject(ev.Data)
	if err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	taken := map[string]any{}
	for _, f := range personal {
		if v, ok := take(m, f.Path); ok && !empty(v) {
			taken[f.Name()] = v
		}
	}
	if len(taken) == 0 {
		return ev, nil
	}
	owner, err := ownerOf(m, ownerField)
	if err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	kr, err := c.keys.forSeal(ctx, owner)
	if err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	plain, err := json.Marshal(taken)
	if err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	sealed, err := kr.Seal(plain, sealAD(ev.Type, ev.ID))
	if err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	m[SealedField] = base64.StdEncoding.EncodeToString(sealed)
	if ev.Data, err = json.Marshal(m); err != nil {
		return ev, fmt.Errorf("seal %s: %w", ev.Type, err)
	}
	return ev, nil
}

// Open returns the data of a stored event with its personal fields as they were written: the
// sealed ones opened with the owner's key. Once the owner's key was destroyed, they are absent
// and ErasedField is true; this holds also for an event written in the clear before sealing
// existed, whose stored bytes still hold them (docs/erasure.md). An event of a type with no
// personal field is returned as it is. An account.erased makes the codec forget the key of
// its account, so that every node stops opening what was sealed under it.
func (c *Codec) Open(ctx context.Context, ev *eventstore.RecordedEvent) ([]byte, error) {
	return c.open(ctx, ev, nil, nil)
}

// OpenAll opens events in place (Open of each), looking up the keys of their owners that the
// codec does not hold in one query when the store can (eventstore.SubjectKeysReader): a page
// of the log names thousands of owners, and a query each was a tenth of a rebuild's processor
// time.
func (c *Codec) OpenAll(ctx context.Context, evs []eventstore.RecordedEvent) error {
	known, tops, err := c.prefetch(ctx, evs)
	if err != nil {
		return err
	}
	for i := range evs {
		var top map[string]gojson.RawMessage
		if tops != nil {
			top = tops[i]
		}
		data, err := c.open(ctx, &evs[i], known, top)
		if err != nil {
			return err
		}
		evs[i].Data = data
	}
	return nil
}

// prefetch looks up, in one query, the keys of the owners of events the codec will open and
// does not hold; nil when the store cannot, or nothing is missing. It returns the members of
// each event it looked at (nil for the others), for open to use again.
func (c *Codec) prefetch(ctx context.Context, evs []eventstore.RecordedEvent) (map[uuid.UUID]ownerKey, []map[string]gojson.RawMessage, error) {
	r, ok := c.keys.store.(eventstore.SubjectKeysReader)
	if !ok || !c.keys.Enabled() || len(evs) < 2 {
		return nil, nil, nil
	}
	tops := make([]map[string]gojson.RawMessage, len(evs))
	var owners []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for i := range evs {
		ev := &evs[i]
		personal, ownerField := c.personalFields(ev.Type)
		if len(personal) == 0 || ev.Type == (domain.AccountErased{}).EventType() {
			continue
		}
		top, err := decodeTop(ev.Data)
		if err != nil {
			continue // Open says why
		}
		tops[i] = top
		owner, err := ownerOfTop(top, ownerField)
		if err != nil || seen[owner] {
			continue
		}
		seen[owner] = true
		if !c.keys.holds(owner) {
			owners = append(owners, owner)
		}
	}
	if len(owners) == 0 {
		return nil, tops, nil
	}
	known, err := c.keys.lookUp(ctx, r, owners)
	return known, tops, err
}

// open is Open, with the keys known for its page and the event's members if they were decoded
// already (nil otherwise).
func (c *Codec) open(ctx context.Context, ev *eventstore.RecordedEvent, known map[uuid.UUID]ownerKey, top map[string]gojson.RawMessage) ([]byte, error) {
	if ev.Type == (domain.AccountErased{}).EventType() {
		if m, err := decodeObject(ev.Data); err == nil {
			if owner, err := ownerOf(m, "account_id"); err == nil {
				c.keys.forget(owner)
			}
		}
		return ev.Data, nil
	}
	personal, ownerField := c.personalFields(ev.Type)
	if len(personal) == 0 || !c.keys.Enabled() {
		return ev.Data, nil
	}
	// Most events read are in the clear or sealed under a live key: their members are looked
	// at undecoded first (the owner, whether a sealed member is there), and the whole object is
	// decoded only when it must change.
	if top == nil {
		var err error
		if top, err = decodeTop(ev.Data); err != nil {
			return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
		}
	}
	owner, err := ownerOfTop(top, ownerField)
	if err != nil {
		if !bytes.Contains(ev.Data, sealedMember) {
			return ev.Data, nil // written in the clear, with no owner to erase it
		}
		return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
	}
	sealedRaw, isSealed := top[SealedField]
	isSealed = isSealed && len(sealedRaw) > 0 && sealedRaw[0] == '"'
	kr, destroyed, err := c.keys.forOpenKnown(ctx, owner, isSealed, known)
	if err != nil {
		return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
	}
	if !destroyed && !isSealed {
		return ev.Data, nil // written in the clear before sealing existed
	}
	if !destroyed && kr != nil {
		out, err := openSealed(top, personal, kr, sealAD(ev.Type, ev.ID))
		if err != nil {
			return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
		}
		return out, nil
	}
	// The owner's key is gone: the personal fields are dropped and the event says so.
	m, err := decodeObject(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
	}
	for _, f := range personal {
		take(m, f.Path)
	}
	delete(m, SealedField)
	m[ErasedField] = true
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("open %s at %d: %w", ev.Type, ev.Position, err)
	}
	return out, nil
}

// openSealed opens the sealed member of an event's members (top, undecoded) and puts each
// personal field back at its path. The other members are kept as they were stored, undecoded:
// only the objects on a nested field's path are decoded, one level at a time. (Decoding the
// whole event into Go values and encoding it again was most of an Open's cost.)
func openSealed(top map[string]gojson.RawMessage, personal []domain.Field, kr *secrets.Keyring, ad []byte) ([]byte, error) {
	var sealedText string
	if err := gojson.Unmarshal(top[SealedField], &sealedText); err != nil {
		return nil, fmt.Errorf("%s is not a string", SealedField)
	}
	sealed, err := base64.StdEncoding.DecodeString(sealedText)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64", SealedField)
	}
	plain, err := kr.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	var fields map[string]gojson.RawMessage
	if err := gojson.Unmarshal(plain, &fields); err != nil {
		return nil, err
	}
	delete(top, SealedField)
	for _, f := range personal {
		if v, ok := fields[f.Name()]; ok {
			if err := putRaw(top, f.Path, v); err != nil {
				return nil, err
			}
		}
	}
	return gojson.Marshal(top)
}

// putRaw sets the undecoded value at path in an object's undecoded members, making the objects
// on the way (a member on the way that is not an object is replaced, as put does).
func putRaw(m map[string]gojson.RawMessage, path []string, v gojson.RawMessage) error {
	if len(path) == 1 {
		m[path[0]] = v
		return nil
	}
	var sub map[string]gojson.RawMessage
	if raw := m[path[0]]; len(raw) > 0 && raw[0] == '{' {
		if err := gojson.Unmarshal(raw, &sub); err != nil {
			return err
		}
	}
	if sub == nil {
		sub = map[string]gojson.RawMessage{}
	}
	if err := putRaw(sub, path[1:], v); err != nil {
		return err
	}
	b, err := gojson.Marshal(sub)
	if err != nil {
		return err
	}
	m[path[0]] = b
	return nil
}

// MarkErased returns opened data (Open's) for display: an erased event's personal fields
// read ErasedValue, so that a replay shows where the data was. Other data is returned as is.
func MarkErased(typ string, data []byte) []byte {
	if !bytes.Contains(data, []byte(`"`+ErasedField+`"`)) {
		return data
	}
	m, err := decodeObject(data)
	if err != nil || m[ErasedField] != true {
		return data
	}
	delete(m, ErasedField)
	for _, f := range domain.Events.Fields(typ) {
		if f.Personal {
			put(m, f.Path, ErasedValue)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// decodeTop returns the members of the JSON object data, each undecoded.
func decodeTop(data []byte) (map[string]gojson.RawMessage, error) {
	dec := gojson.NewDecoder(bytes.NewReader(data))
	var m map[string]gojson.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// ownerOfTop is ownerOf over undecoded members: a member that is not a string holds no ID.
func ownerOfTop(m map[string]gojson.RawMessage, field string) (uuid.UUID, error) {
	var s string
	if raw, ok := m[field]; ok && len(raw) > 0 && raw[0] == '"' {
		if err := gojson.Unmarshal(raw, &s); err != nil {
			s = ""
		}
	}
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("the owner field %q holds no ID", field)
	}
	return id, nil
}

func ownerOf(m map[string]any, field string) (uuid.UUID, error) {
	s, _ := m[field].(string)
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("the owner field %q holds no ID", field)
	}
	return id, nil
}

// take removes the value at path and returns it.
func take(m map[string]any, path []string) (any, bool) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	last := path[len(path)-1]
	v, ok := m[last]
	delete(m, last)
	return v, ok
}

// put sets the value at path, making the objects on the way.
func put(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func empty(v any) bool { return v == nil || v == "" }

// HoldsClear reports whether a stored event holds a personal field in the clear: it was
// written before sealing existed (or by a store that keeps no keys).
func HoldsClear(ev *eventstore.RecordedEvent) bool {
	if bytes.Contains(ev.Data, sealedMember) {
		return false
	}
	var fields []domain.Field
	for _, f := range domain.Events.Fields(ev.Type) {
		if f.Personal {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return false
	}
	m, err := decodeObject(ev.Data)
	if err != nil {
		return false
	}
	for _, f := range fields {
		if v, ok := take(m, f.Path); ok && !empty(v) {
			return true
		}
	}
	return false
}

// IsSealed reports whether stored event data holds sealed personal fields.
func IsSealed(data []byte) bool { return bytes.Contains(data, sealedMember) }
