package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	gojson "github.com/goccy/go-json"
)

// Registry errors. Check them with errors.Is.
var (
	// ErrUnknownEventType is returned for a type string the registry does not hold.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrUnknownSchemaVersion is returned for a schema version newer than the registered
	// one, or older with no upcaster to bring it up.
	ErrUnknownSchemaVersion = errors.New("unknown schema version")
	// ErrMalformedEvent is returned, wrapped with the reason, for data that does not decode.
	ErrMalformedEvent = errors.New("malformed event")
)

// Upcaster rewrites the JSON of one schema version of an event type into the next version.
type Upcaster func(data []byte) ([]byte, error)

// Registry maps each permanent event type string to its current schema version and Go
// type. A Registry is built once and then only read; reads are safe for concurrent use.
type Registry struct {
	specs map[string]*eventSpec
}

type eventSpec struct {
	version   int
	goType    reflect.Type
	decode    func([]byte) (Event, error)
	check     encodeCheck      // nil: every decoded value encodes (encodable.go)
	upcasters map[int]Upcaster // from version v to v+1
	fields    []Field          // the tagged fields (fields.go)
}

// NewRegistry returns an empty registry. Most callers want Events, the registry of Assent.
func NewRegistry() *Registry { return &Registry{specs: map[string]*eventSpec{}} }

// Register adds E (a value type) at schema version. It panics on a second registration of
// the same type string or a version below 1: both are programming errors caught at start.
func Register[E Event](r *Registry, version int) {
	var zero E
	typ := zero.EventType()
	if version < 1 {
		panic(fmt.Sprintf("domain: event %q: schema version %d < 1", typ, version))
	}
	if _, dup := r.specs[typ]; dup {
		panic(fmt.Sprintf("domain: event %q registered twice", typ))
	}
	r.specs[typ] = &eventSpec{
		version: version,
		goType:  reflect.TypeFor[E](),
		decode: func(data []byte) (e Event, err error) {
			// The log is read far more than it is written, and decoding is most of what a read
			// costs (a rebuild of the read models decodes every event): go-json decodes what
			// encoding/json writes, by the same rules, several times faster. A panic in it on a
			// malformed input is a malformed event, never a crash.
			defer func() {
				if r := recover(); r != nil {
					e, err = nil, fmt.Errorf("decoder panic: %v", r)
				}
			}()
			var v E
			if err := gojson.Unmarshal(data, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
		check:     checkerOf(reflect.TypeFor[E](), map[reflect.Type]bool{}),
		upcasters: map[int]Upcaster{},
		fields:    taggedFields(reflect.TypeFor[E]()),
	}
}

// RegisterUpcaster adds the function that turns version from of typ into from+1. It panics
// when typ is not registered or from is not below the current version.
func (r *Registry) RegisterUpcaster(typ string, from int, up Upcaster) {
	s, ok := r.specs[typ]
	if !ok || from < 1 || from >= s.version {
		panic(fmt.Sprintf("domain: upcaster for %q from version %d has no place", typ, from))
	}
	s.upcasters[from] = up
}

// Types returns every registered type string, sorted. Projection tests use it to check
// that every type they handle is registered.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.specs))
	for t := range r.specs {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Versions returns every registered type string with the schema version Encode writes, which
// is also the highest version Decode reads.
func (r *Registry) Versions() map[string]int {
	out := make(map[string]int, len(r.specs))
	for t, s := range r.specs {
		out[t] = s.version
	}
	return out
}

// TypeSet returns the set of the type strings of events (zero values will do), for a consumer
// that picks some types out of the log by their strings before decoding anything.
func TypeSet(events ...Event) map[string]bool {
	set := make(map[string]bool, len(events))
	for _, e := range events {
		set[e.EventType()] = true
	}
	return set
}

// TypesOf returns, sorted, the registered type strings whose Go type implements I (an
// interface such as FinalEvent): a consumer that reacts to a kind of event picks its types out
// of the log without decoding the rest.
func TypesOf[I any](r *Registry) []string {
	want := reflect.TypeFor[I]()
	var out []string
	for t, s := range r.specs {
		if s.goType.Implements(want) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// IsRegistered reports whether typ is a registered type string.
func (r *Registry) IsRegistered(typ string) bool { _, ok := r.specs[typ]; return ok }

// Encode returns the type string, current schema version and JSON of e. It refuses an
// event whose type is not registered or whose Go type is not the registered one (for
// example a pointer).
func (r *Registry) Encode(e Event) (typ string, version int, data []byte, err error) {
	if e == nil {
		return "", 0, nil, fmt.Errorf("encode: %w: nil event", ErrUnknownEventType)
	}
	typ = e.EventType()
	s, ok := r.specs[typ]
	if !ok {
		return "", 0, nil, fmt.Errorf("encode: %w: %q", ErrUnknownEventType, typ)
	}
	if reflect.TypeOf(e) != s.goType {
		return "", 0, nil, fmt.Errorf("encode: %w: %q is registered as %s, not %T", ErrUnknownEventType, typ, s.goType, e)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return typ, s.version, data, nil
}

// Decode rebuilds an event from its type string, schema version and JSON, first upcasting
// older versions one step at a time. It never panics on any input; it returns
// ErrUnknownEventType, ErrUnknownSchemaVersion or ErrMalformedEvent. An event it returns
// always encodes again.
func (r *Registry) Decode(typ string, version int, data []byte) (Event, error) {
	s, ok := r.specs[typ]
	if !ok {
		return nil, fmt.Errorf("decode: %w: %q", ErrUnknownEventType, typ)
	}
	if version < 1 || version > s.version {
		return nil, fmt.Errorf("decode %s: %w: %d", typ, ErrUnknownSchemaVersion, version)
	}
	for v := version; v < s.version; v++ {
		up, ok := s.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("decode %s: %w: no upcaster from %d", typ, ErrUnknownSchemaVersion, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("decode %s: upcast from %d: %w: %w", typ, v, ErrMalformedEvent, err)
		}
	}
	e, err := s.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w: %w", typ, ErrMalformedEvent, err)
	}
	// A field left out of the JSON leaves a zero value; a zero enum (a failure reason, a link
	// method) cannot be encoded again. Refuse such an event here rather than in a projection.
	// The check calls the marshalers json.Marshal would (encodable.go), not the whole encoder.
	if s.check != nil {
		if err := s.check(reflect.ValueOf(e)); err != nil {
			return nil, fmt.Errorf("decode %s: %w: %w", typ, ErrMalformedEvent, err)
		}
	}
	return e, nil
}

// Events is the registry of every Assent event type. It is the one list: add a new type
// here, never rename one (add a new type or a new version with an upcaster instead).
var Events = newEvents()

func newEvents() *Registry {
	r := NewRegistry()
	Register[EmailClaimed](r, 1)
	Register[AccountRegistered](r, 1)
	Register[PasswordChanged](r, 1)
	Register[SignInFailed](r, 1)
	Register[SignInLocked](r, 1)
	Register[SignedOut](r, 1)
	Register[MFAEnabled](r, 1)
	Register[MFADisabled](r, 1)
	Register[MFALocked](r, 1)
	Register[PushMuted](r, 1)
	Register[SignInChallenged](r, 1)
	Register[ChallengeFailed](r, 1)
	Register[DeviceLinked](r, 1)
	Register[DeviceUnlinked](r, 1)
	Register[TOTPAppAdded](r, 1)
	Register[TOTPAppConfirmed](r, 1)
	Register[TOTPCodeUsed](r, 1)
	Register[TOTPCheckFailed](r, 1)
	Register[BackupCodesIssued](r, 1)
	Register[BackupCodeUsed](r, 1)
	Register[BackupCodeCheckFailed](r, 1)
	Register[DeviceRegistered](r, 1)
	Register[EnrollmentStarted](r, 1)
	Register[EnrollmentCompleted](r, 1)
	Register[EnrollmentExpired](r, 1)
	Register[ChallengeIssued](r, 1)
	Register[ChallengeDelivered](r, 1)
	Register[ChallengeApproved](r, 1)
	Register[ChallengeDenied](r, 1)
	Register[FraudReported](r, 1)
	Register[NumberMismatched](r, 1)
	Register[ChallengeExpired](r, 1)
	Register[ChallengeCancelled](r, 1)
	Register[ChallengeCompletedTOTP](r, 1)
	Register[ChallengeCompletedBackupCode](r, 1)
	Register[ChallengeRedeemed](r, 1)
	// The Duo-compatible Auth API's integrations (integration.go).
	Register[IntegrationCreated](r, 1)
	Register[IntegrationSecretRotated](r, 1)
	Register[IntegrationDisabled](r, 1)
	Register[IntegrationUserCreated](r, 1)
	Register[BypassCodesIssued](r, 1)
	// Self-service: sessions and names (session.go, account_names.go).
	Register[SessionStarted](r, 1)
	Register[SessionSeen](r, 1)
	Register[SessionsEnded](r, 1)
	Register[DeviceRenamed](r, 1)
	Register[TOTPAppRenamed](r, 1)
	Register[TOTPAppRemoved](r, 1)
	Register[PushResumed](r, 1)
	// The help desk (helpdesk.go).
	Register[SecondFactorReset](r, 1)
	Register[AccountUnlocked](r, 1)
	Register[AccountDisabled](r, 1)
	Register[AccountEnabled](r, 1)
	Register[HelpDeskNoticesSeen](r, 1)
	// Erasure (erasure.go).
	Register[AccountErased](r, 1)
	registerOIDC(r)
	// The audit trail's own events (events_audit.go).
	registerAudit(r)
	return r
}

// Encode encodes e with the Events registry.
func Encode(e Event) (typ string, version int, data []byte, err error) { return Events.Encode(e) }

// Decode decodes with the Events registry.
func Decode(typ string, version int, data []byte) (Event, error) {
	return Events.Decode(typ, version, data)
}

// EventTypes returns every type string of the Events registry, sorted.
func EventTypes() []string { return Events.Types() }
