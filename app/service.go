package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/secrets"
)

// Config is what a Service needs. Zero fields take their defaults (setDefaults); Validate
// reports every problem at once.
type Config struct {
	// Store is the event log. Required.
	Store eventstore.Store
	// Keyring seals TOTP secrets and keys backup-code hashes. Required.
	Keyring *secrets.Keyring
	// Projections are the read models queries use and the sweeper scans. Optional: without
	// them, queries and ExpireDueChallenges return ErrNoProjections.
	Projections *projections.Set
	// Argon2 are the parameters of new password hashes. Default secrets.DefaultArgon2Params.
	Argon2 secrets.Argon2Params
	// Policy is the domain's limits. Zero fields take domain defaults.
	Policy domain.Policy
	// Clock gives the time of every decision. Default time.Now.
	Clock func() time.Time
	// Random draws numbers, tokens, secrets and backup codes; it must be safe for concurrent
	// use. Default crypto/rand.
	Random io.Reader
	// MaxAttempts bounds the attempts of a command whose append conflicts. Default 5.
	MaxAttempts int
	// Snapshots keeps snapshots of account streams, so that loading an account reads only the
	// events after its snapshot. Optional: without it, an account not in the stream cache is
	// read whole.
	Snapshots Snapshots
	// Schemas, if set, is asked before every append whether the deployment allows each
	// event's schema version (schemas.Guard): an event some node may not read is refused.
	Schemas SchemaGuard
	// PasswordChecks bounds the argon2id computations (password hashes and checks) that run at
	// once; the others wait for their turn, up to 5 s, then fail with ErrBusy. Default: the
	// number of cores Go uses (GOMAXPROCS), as each computation keeps a core busy.
	PasswordChecks int
	// PasswordKeys derives the argon2id keys of password hashes and checks. Default
	// secrets.IDKey, in this process; `assent serve` hands them to a worker process of low
	// priority (hashworker). An error of it fails the check with ErrBusy.
	PasswordKeys secrets.KeyFunc
	// Erasure holds the accounts' keys that seal their personal fields (the store must be the
	// personal.Store over the same keys). Optional: without it, EraseAccount returns
	// ErrErasureUnavailable.
	Erasure *personal.Keys
}

func (c *Config) setDefaults() {
	if c.Argon2 == (secrets.Argon2Params{}) {
		c.Argon2 = secrets.DefaultArgon2Params()
	}
	c.Policy.SetDefaults()
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Random == nil {
		c.Random = rand.Reader
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.PasswordChecks == 0 {
		c.PasswordChecks = runtime.GOMAXPROCS(0)
	}
	if c.PasswordKeys == nil {
		c.PasswordKeys = secrets.IDKey
	}
}

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("app: option 'store' must be set but it's not configured"))
	}
	if c.Keyring == nil {
		errs = append(errs, errors.New("app: option 'keyring' must be set but it's not configured"))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("app: option 'max_attempts' must be between 1 and 100 but it's configured as '%d'", c.MaxAttempts))
	}
	if c.PasswordChecks < 1 || c.PasswordChecks > 1024 {
		errs = append(errs, fmt.Errorf("app: option 'password_checks' must be between 1 and 1024 but it's configured as '%d'", c.PasswordChecks))
	}
	errs = append(errs, c.Argon2.Validate(), c.Policy.Validate())
	return errors.Join(errs...)
}

// SchemaGuard says whether the deployment allows an event type at a schema version; its error
// is returned as is (schemas.ErrNotAllowed), and nothing of the command's append is written.
type SchemaGuard interface {
	Allow(ctx context.Context, typ string, version int) error
}

// Service runs Assent's use cases. It is safe for concurrent use.
type Service struct {
	store     eventstore.Store
	keyring   *secrets.Keyring
	hasher    *secrets.CodeHasher
	views     *projections.Set
	argon2    secrets.Argon2Params
	policy    domain.Policy
	now       func() time.Time
	rand      io.Reader
	tries     int
	streams   *streamCache // decoded streams, checked against the store on every load
	snapshots Snapshots    // account snapshots, or nil
	passwords passwordGate // turns for argon2id computations
	keys      secrets.KeyFunc
	// heads is the store's memory of its streams' heads, when it has one (a store that is the
	// only writer of its log): a cached stream whose head it knows needs no read at all.
	heads eventstore.KnownHeads
	// schemas, when set, allows or refuses each event's schema version before an append.
	schemas SchemaGuard
	erasure *personal.Keys // accounts' keys, or nil (erasure.go)

	written atomic.Uint64 // the highest position this service appended

	dummyOnce sync.Once
	dummyHash string
}

// New returns a Service, or the configuration's problems.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	heads, _ := cfg.Store.(eventstore.KnownHeads)
	return &Service{
		store: cfg.Store, keyring: cfg.Keyring, hasher: cfg.Keyring.CodeHasher(), views: cfg.Projections,
		argon2: cfg.Argon2, policy: cfg.Policy, now: cfg.Clock, rand: cfg.Random, tries: cfg.MaxAttempts,
		streams: newStreamCache(streamCacheBytes), snapshots: cfg.Snapshots, heads: heads, passwords: newPasswordGate(cfg.PasswordChecks), keys: cfg.PasswordKeys, schemas: cfg.Schemas, erasure: cfg.Erasure,
	}, nil
}

// Written returns the highest log position this service has appended. Queries wait until the
// projections reach it, so that a caller reads its own writes.
func (s *Service) Written() eventstore.Position { return eventstore.Position(s.written.Load()) }

func (s *Service) noteWritten(p eventstore.Position) {
	for {
		cur := s.written.Load()
		if uint64(p) <= cur || s.written.CompareAndSwap(cur, uint64(p)) {
			return
		}
	}
}

type ctxKey int

const (
	correlationKey ctxKey = iota
)

// WithCorrelationID returns a context whose commands record id as their correlation ID
// (for example the HTTP request ID). Without it, each command gets a new one.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey, id)
}

// correlated returns ctx with a new correlation ID when it has none, so that every op of one
// command shares it.
func correlated(ctx context.Context) context.Context {
	if id, _ := ctx.Value(correlationKey).(string); id != "" {
		return ctx
	}
	return WithCorrelationID(ctx, uuid.Must(uuid.NewV7()).String())
}

// op is one command's run: its context and the metadata of what it appends.
type op struct {
	s           *Service
	ctx         context.Context
	correlation string
	causation   string
	actor       string
}

func (s *Service) op(ctx context.Context, actor string) *op {
	o := &op{s: s, ctx: ctx, actor: actor}
	o.correlation, _ = ctx.Value(correlationKey).(string)
	if o.correlation == "" {
		o.correlation = uuid.Must(uuid.NewV7()).String()
	}
	return o
}

// Actors recorded in event metadata.
func accountActor(id uuid.UUID) string { return "account:" + id.String() }
func deviceActor(id uuid.UUID) string  { return "device:" + id.String() }

const systemActor = "system"

// load reads and decodes a stream; an absent stream gives no events and NoStream. The events
// are shared with the stream cache: a caller may append to the slice (it has no spare
// capacity, so appending copies) but must not change its elements.
//
// A stream in the cache whose head the store knows, from memory, to be the cached last event
// (same version, same ID) is used as it is, without a read. Any other stream in the cache is read
// from the cached last event on (loadCached): one query, usually one row, and only what follows
// that event is decoded. Otherwise the whole stream is read and decoded, and cached.
func (s *Service) load(ctx context.Context, stream string) ([]domain.Event, eventstore.ExpectedVersion, error) {
	if c := s.streams.get(stream); c != nil && c.account == nil { // an account entry is loadAccountStream's
		if s.heads != nil {
			if v, id, ok := s.heads.KnownHead(stream); ok && v == c.version && id == c.lastID {
				return c.events, eventstore.Exact(c.version), nil
			}
		}
		cur, err := s.loadCached(ctx, stream, c)
		if err != nil {
			return nil, eventstore.ExpectedVersion{}, err
		}
		if cur != nil {
			return cur.events, eventstore.Exact(cur.version), nil
		}
		s.streams.drop(stream, c)
	}
	recs, err := s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, eventstore.NoStream(), nil
	}
	if err != nil {
		return nil, eventstore.ExpectedVersion{}, fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recs) == 0 {
		return nil, eventstore.ExpectedVersion{}, fmt.Errorf("read %s: the store returned no event and no error", stream)
	}
	events, size, err := decodeRecords(stream, recs)
	if err != nil {
		return nil, eventstore.ExpectedVersion{}, err
	}
	last := recs[len(recs)-1]
	s.streams.put(stream, &cachedStream{events: events, version: last.Version, lastID: last.ID, bytes: entryOverhead + size + eventOverhead*len(events)})
	return events, eventstore.Exact(last.Version), nil
}

// loadCached brings c, the cached entry of stream, up to date: it reads the stream forwards from
// c's last version, checks that the first event there is c's last event (same ID), and returns
// c followed by the events after it, cached in its place. It returns nil when the store does
// not hold c's last event at that version (the stream is gone, or the read did not reach it):
// then the caller must read the whole stream. A write by another node or process is simply
// among the events after c, so the entry is never trusted without this read, or without the
// store's word (a known head) that its last event is still the stream's.
func (s *Service) loadCached(ctx context.Context, stream string, c *cachedStream) (*cachedStream, error) {
	recs, err := s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: c.version})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from version %d: %w", stream, c.version, err)
	}
	if len(recs) == 0 || recs[0].Version != c.version || recs[0].ID != c.lastID {
		return nil, nil
	}
	if len(recs) == 1 {
		return c, nil
	}
	more, size, err := decodeRecords(stream, recs[1:])
	if err != nil {
		return nil, err
	}
	last := recs[len(recs)-1]
	cur, err := c.extended(more, size, last.Version, last.ID)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	s.streams.put(stream, cur)
	return cur, nil
}

// decodeRecords decodes the records of a stream, into a slice with no spare capacity, and
// returns the size of their data.
func decodeRecords(stream string, recs []eventstore.RecordedEvent) ([]domain.Event, int, error) {
	events := make([]domain.Event, 0, len(recs))
	size := 0
	for _, r := range recs {
		e, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s at version %d: %w", stream, r.Version, err)
		}
		events = append(events, e)
		size += len(r.Data)
	}
	return events, size, nil
}

// remember extends the cached entry of stream with the events an append just wrote, when they
// follow the entry's last event directly: the append expected exactly the version cached (or
// no stream), or, whatever it expected (StreamExists, Any), its result shows its first event
// right after the cached version, since a stream's versions have no gaps. Then the stream is
// the entry's events followed by these, and the next load reads one row. Otherwise the entry
// is left as it was, and the next load reads what follows it. data is decoded back, so that
// the entry holds what a read of the store gives and nothing the caller might still change.
// An account's entry holds the account folded further, saved as a snapshot when due.
func (s *Service) remember(ctx context.Context, stream string, expected eventstore.ExpectedVersion, data []eventstore.EventData, res eventstore.AppendResult) {
	base := &cachedStream{}
	next := uint64(0) // the version of data[0]
	switch v, exact := expected.ExactVersion(); {
	case exact:
		if base = s.streams.get(stream); base == nil || base.version != v {
			return
		}
		next = v + 1
	case expected.IsNoStream():
		if domain.IsAccountStream(stream) {
			a, err := domain.LoadAccount(nil)
			if err != nil {
				return
			}
			base = &cachedStream{account: a}
		}
	default:
		if base = s.streams.get(stream); base == nil {
			return
		}
		next = base.version + 1
	}
	if res.Version != next+uint64(len(data))-1 {
		return
	}
	more := make([]domain.Event, len(data))
	size := 0
	for i, d := range data {
		e, err := domain.Decode(d.Type, d.SchemaVersion, d.Data)
		if err != nil {
			return // the next load reads it from the store, and reports the error
		}
		more[i] = e
		size += len(d.Data)
	}
	cur, err := base.extended(more, size, res.Version, data[len(data)-1].ID)
	if err != nil {
		return // likewise
	}
	s.streams.put(stream, cur)
	s.saveSnapshot(ctx, stream, cur)
}

// append encodes events and appends them with expected, with new UUIDv7 IDs and the op's
// metadata; the op's next append is caused by the last of them.
func (o *op) append(stream string, expected eventstore.ExpectedVersion, events []domain.Event) (eventstore.AppendResult, error) {
	data, err := o.encode(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := o.s.store.Append(o.ctx, stream, expected, data...)
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", stream, err)
	}
	o.causation = data[len(data)-1].ID.String()
	o.s.noteWritten(res.Position)
	o.s.remember(o.ctx, stream, expected, data, res)
	return res, nil
}

// encode gives events new UUIDv7 IDs and the op's metadata.
func (o *op) encode(stream string, events []domain.Event) ([]eventstore.EventData, error) {
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, ver, raw, err := domain.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", stream, err)
		}
		if o.s.schemas != nil {
			if err := o.s.schemas.Allow(o.ctx, typ, ver); err != nil {
				return nil, fmt.Errorf("append to %s: %w", stream, err)
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("append to %s: event ID: %w", stream, err)
		}
		data[i] = eventstore.EventData{ID: id, Type: typ, SchemaVersion: ver, Data: raw, Metadata: eventstore.Metadata{
			CorrelationID: o.correlation, CausationID: o.causation, Actor: o.actor,
		}}
	}
	return data, nil
}

// streamEvents is one stream's share of an appendAll.
type streamEvents struct {
	stream   string
	expected eventstore.ExpectedVersion
	events   []domain.Event
}

// appendAll appends to several streams in one atomic write of m (see
// eventstore.MultiStreamAppender); the events of every part share the op's metadata.
func (o *op) appendAll(m eventstore.MultiStreamAppender, parts ...streamEvents) ([]eventstore.AppendResult, error) {
	out := make([]eventstore.StreamAppend, len(parts))
	for i, p := range parts {
		data, err := o.encode(p.stream, p.events)
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.StreamAppend{Stream: p.stream, Expected: p.expected, Events: data}
	}
	res, err := m.AppendMulti(o.ctx, out...)
	if err != nil {
		return nil, fmt.Errorf("append to %s and %d more: %w", parts[0].stream, len(parts)-1, err)
	}
	for i, p := range out {
		o.s.noteWritten(res[i].Position)
		o.s.remember(o.ctx, p.Stream, p.Expected, p.Events, res[i])
	}
	last := out[len(out)-1].Events
	o.causation = last[len(last)-1].ID.String()
	return res, nil
}

// decideFunc decides on the events of a stream at now. An error it returns is returned as is,
// with nothing appended.
type decideFunc func(events []domain.Event, now time.Time) (domain.Decision, error)

// loaded is a stream as load returned it: its events and the version to expect after them.
type loaded struct {
	events   []domain.Event
	expected eventstore.ExpectedVersion
}

// update loads stream, decides, appends the decision's events with the version loaded, and
// returns the decision's error after the append. On a conflict it loads and decides again, at
// most MaxAttempts times in all. The result's Position is zero when nothing was appended.
func (o *op) update(stream string, decide decideFunc) (eventstore.AppendResult, error) {
	return o.updateFrom(stream, nil, decide)
}

// updateFrom is update whose first attempt decides on first, the stream as the command has
// just loaded it, when first is not nil. Its append still expects the version first was
// loaded at, so a stream that moved meanwhile conflicts and the next attempt loads it afresh.
func (o *op) updateFrom(stream string, first *loaded, decide decideFunc) (eventstore.AppendResult, error) {
	return o.retry(stream, func() (eventstore.ExpectedVersion, domain.Decision, error) {
		var events []domain.Event
		var expected eventstore.ExpectedVersion
		if first != nil {
			events, expected, first = first.events, first.expected, nil
		} else {
			var err error
			if events, expected, err = o.s.load(o.ctx, stream); err != nil {
				return expected, domain.Decision{}, err
			}
		}
		d, err := decide(events, o.s.now())
		return expected, d, err
	})
}

// retry runs attempt, which loads the stream and decides, and appends the decision's events
// with the version it loaded; it returns the decision's error after the append. On a conflict
// it runs attempt again, at most MaxAttempts times in all. An error of attempt is returned as
// is, with nothing appended.
func (o *op) retry(stream string, attempt func() (eventstore.ExpectedVersion, domain.Decision, error)) (eventstore.AppendResult, error) {
	for range o.s.tries {
		expected, d, err := attempt()
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if len(d.Events) == 0 {
			return eventstore.AppendResult{}, d.Err
		}
		res, err := o.append(stream, expected, d.Events)
		if errors.Is(err, eventstore.ErrConflict) {
			continue
		}
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		return res, d.Err
	}
	return eventstore.AppendResult{}, fmt.Errorf("%w: %s", ErrContention, stream)
}

// updateAccount runs update on an account stream with the folded account, loaded by
// loadAccountStream (the cached account, or its snapshot and the events after it).
func (o *op) updateAccount(id uuid.UUID, decide func(a *domain.Account, now time.Time) (domain.Decision, error)) (eventstore.AppendResult, error) {
	return o.retry(domain.AccountStream(id), func() (eventstore.ExpectedVersion, domain.Decision, error) {
		a, expected, err := o.s.loadAccountStream(o.ctx, id)
		if err != nil {
			return expected, domain.Decision{}, err
		}
		d, err := decide(a, o.s.now())
		return expected, d, err
	})
}

// updateChallenge runs update on a challenge stream with the folded challenge.
func (o *op) updateChallenge(id uuid.UUID, decide func(c *domain.Challenge, now time.Time) domain.Decision) (eventstore.AppendResult, error) {
	return o.updateChallengeFrom(id, nil, decide)
}

// updateChallengeFrom is updateChallenge whose first attempt decides on first (see updateFrom).
func (o *op) updateChallengeFrom(id uuid.UUID, first *loaded, decide func(c *domain.Challenge, now time.Time) domain.Decision) (eventstore.AppendResult, error) {
	return o.updateFrom(domain.ChallengeStream(id), first, func(events []domain.Event, now time.Time) (domain.Decision, error) {
		c, err := domain.LoadChallenge(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return decide(c, now), nil
	})
}

// then folds the events of d onto a and decides next on the result, so that one append
// carries both decisions. It returns d when d failed.
func then(a *domain.Account, d domain.Decision, next func(a *domain.Account) domain.Decision) (domain.Decision, error) {
	if d.Err != nil {
		return d, nil
	}
	a, err := a.Fold(d.Events...)
	if err != nil {
		return domain.Decision{}, err
	}
	d2 := next(a)
	if d2.Err != nil {
		return d2, nil
	}
	return domain.Decision{Events: append(d.Events, d2.Events...)}, nil
}

// loadAccount reads an account; ErrAccountNotFound when it does not exist.
func (s *Service) loadAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	a, _, err := s.loadAccountStream(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Exists() {
		return nil, domain.ErrAccountNotFound
	}
	return a, nil
}

// loadChallenge reads a challenge; ErrChallengeNotFound when it does not exist.
func (s *Service) loadChallenge(ctx context.Context, id uuid.UUID) (*domain.Challenge, error) {
	c, _, err := s.readChallenge(ctx, id)
	return c, err
}

// readChallenge is loadChallenge that also returns the stream as loaded, for a command that
// goes on to update it (updateChallengeFrom).
func (s *Service) readChallenge(ctx context.Context, id uuid.UUID) (*domain.Challenge, *loaded, error) {
	events, expected, err := s.load(ctx, domain.ChallengeStream(id))
	if err != nil {
		return nil, nil, err
	}
	c, err := domain.LoadChallenge(events)
	if err != nil {
		return nil, nil, err
	}
	if !c.Exists() {
		return nil, nil, domain.ErrChallengeNotFound
	}
	return c, &loaded{events: events, expected: expected}, nil
}
