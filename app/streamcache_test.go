package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// streamRead is one ReadStream call a countingStore saw.
type streamRead struct {
	stream string
	from   uint64
	rows   int
}

// countingStore records every ReadStream call of the store it wraps, and can run a hook
// before a read or an append (to let another writer act at that moment).
type countingStore struct {
	eventstore.Store
	mu     sync.Mutex
	reads  []streamRead
	before func(call, stream string)
}

func (c *countingStore) hook(call, stream string) {
	c.mu.Lock()
	before := c.before
	c.mu.Unlock()
	if before != nil {
		before(call, stream)
	}
}

func (c *countingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	c.hook("append", stream)
	return c.Store.Append(ctx, stream, expected, events...)
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	c.hook("read", stream)
	recs, err := c.Store.ReadStream(ctx, stream, opts)
	c.mu.Lock()
	c.reads = append(c.reads, streamRead{stream: stream, from: opts.From, rows: len(recs)})
	c.mu.Unlock()
	return recs, err
}

// take returns the reads since the last take.
func (c *countingStore) take() []streamRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = nil
	return r
}

// setBefore sets the hook run before each read ("read") and append ("append"); nil removes it.
func (c *countingStore) setBefore(f func(call, stream string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.before = f
}

// countReads replaces the fixture's service with one whose store counts its stream reads. The
// new service starts with an empty stream cache. The counting store does not pass on the
// store's known heads, so every load of a cached stream reads from its last event.
func (f *fixture) countReads() *countingStore {
	f.t.Helper()
	cs := &countingStore{Store: f.store}
	f.useStore(cs)
	return cs
}

// headsStore is a countingStore that passes on the store's known heads, as the SQLite store
// itself does.
type headsStore struct {
	*countingStore
	heads eventstore.KnownHeads
}

func (h *headsStore) KnownHead(stream string) (uint64, uuid.UUID, bool) {
	return h.heads.KnownHead(stream)
}

func (h *headsStore) Head() eventstore.Position { return h.heads.Head() }

// countReadsWithHeads is countReads with a store that passes on the known heads.
func (f *fixture) countReadsWithHeads() *countingStore {
	f.t.Helper()
	cs := &countingStore{Store: f.store}
	f.useStore(&headsStore{cs, f.store})
	if f.s.heads == nil {
		f.t.Fatal("the service did not take the store's known heads")
	}
	return cs
}

// useStore replaces the fixture's service with one on store.
func (f *fixture) useStore(store eventstore.Store) {
	f.t.Helper()
	s, err := New(Config{Store: store, Keyring: f.s.keyring, Projections: f.views, Policy: f.s.policy, Clock: f.clock.Now, Snapshots: f.s.snapshots})
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
}

// stored reads a stream straight from the store and decodes it, as a load without a cache.
func (f *fixture) stored(stream string) ([]domain.Event, uint64) {
	f.t.Helper()
	recs, err := f.store.ReadStream(f.ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	events, _, err := decodeRecords(stream, recs)
	if err != nil {
		f.t.Fatal(err)
	}
	return events, recs[len(recs)-1].Version
}

// write appends events straight to the store, as another node or process would: the service
// under test does not see it happen.
func (f *fixture) write(stream string, events ...domain.Event) {
	f.t.Helper()
	if err := writeTo(f.ctx, f.store, stream, events...); err != nil {
		f.t.Fatal(err)
	}
}

func writeTo(ctx context.Context, store eventstore.Store, stream string, events ...domain.Event) error {
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, ver, raw, err := domain.Encode(e)
		if err != nil {
			return err
		}
		data[i] = eventstore.EventData{Type: typ, SchemaVersion: ver, Data: raw, Metadata: eventstore.Metadata{Actor: "test:other-writer"}}
	}
	_, err := store.Append(ctx, stream, eventstore.StreamExists(), data...)
	return err
}

// checkLoad loads stream through the service and checks it against the store: the same events
// and the exact last version. An account stream is loaded as commands load it
// (loadAccountStream), and checked against the account folded from the stored events.
func (f *fixture) checkLoad(stream string) {
	f.t.Helper()
	if domain.IsAccountStream(stream) {
		f.checkAccount(stream)
		return
	}
	got, expected, err := f.s.load(f.ctx, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	want, version := f.stored(stream)
	if !reflect.DeepEqual(got, want) || expected != eventstore.Exact(version) {
		f.t.Fatalf("load %s = %v at %s, want %v at version %d", stream, got, expected, want, version)
	}
	if cap(got) != len(got) {
		f.t.Fatalf("load %s: the events have spare capacity (%d > %d): an append by a caller would write into the cache", stream, cap(got), len(got))
	}
}

// checkAccount loads an account stream as commands do and checks it against the store: the
// account LoadAccount folds from the stored events (compared by their snapshots, which hold
// every field) and the exact last version.
func (f *fixture) checkAccount(stream string) {
	f.t.Helper()
	id, err := uuid.Parse(strings.TrimPrefix(stream, "account-"))
	if err != nil {
		f.t.Fatal(err)
	}
	got, expected, err := f.s.loadAccountStream(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	events, version := f.stored(stream)
	want, err := domain.LoadAccount(events)
	if err != nil {
		f.t.Fatal(err)
	}
	g, err := got.MarshalSnapshot()
	if err != nil {
		f.t.Fatal(err)
	}
	w, err := want.MarshalSnapshot()
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Equal(g, w) || expected != eventstore.Exact(version) {
		f.t.Fatalf("load %s = %s at %s, want %s at version %d", stream, g, expected, w, version)
	}
}

// accountOf folds events into an account, for a test to put in the cache.
func accountOf(t testing.TB, events ...domain.Event) *domain.Account {
	t.Helper()
	a, err := domain.LoadAccount(events)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStreamCacheReadsOnlyTheLastEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	cs := f.countReads()
	id := f.account("cache@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	stream := domain.AccountStream(id)
	_, last := f.stored(stream)

	f.s.streams = newStreamCache(streamCacheBytes) // cold
	cs.take()
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, 0, int(last) + 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first load read %+v, want %+v", got, want)
	}
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, last, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second load read %+v, want %+v: only the cached last event", got, want)
	}

	// A command's own append extends the entry: the next load reads only the new last event.
	ch := f.challenge(id)
	_, last = f.stored(stream)
	cs.take()
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, last, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("load after an append read %+v, want %+v", got, want)
	}

	// A delivery receipt, appended with "stream exists", follows the cached issue directly (its
	// result says so): it extends the entry too.
	if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
		t.Fatal(err)
	}

	// An answer reads each stream once, one row each: the challenge is not read again to
	// decide on it.
	sig := f.sign(phone, ch.ID, domain.AnswerApprove, ch.Number)
	cs.take()
	if err := f.s.AnswerChallenge(f.ctx, phone.id, ch.ID, domain.AnswerApprove, ch.Number, sig); err != nil {
		t.Fatal(err)
	}
	want := []streamRead{{domain.ChallengeStream(ch.ID), 1, 1}, {stream, last, 1}}
	if got := cs.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("answer read %+v, want %+v", got, want)
	}
	f.checkLoad(domain.ChallengeStream(ch.ID))
}

func TestStreamCacheSeesOtherWriters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	cs := f.countReads()
	id := f.account("others@example.com")
	phone, spare := newDevice(t), newDevice(t)
	f.enroll(id, phone)
	f.enroll(id, spare)
	ch := f.challenge(id)
	sig := f.sign(spare, ch.ID, domain.AnswerApprove, ch.Number)
	if _, err := f.s.loadAccount(f.ctx, id); err != nil { // the account is cached with spare linked
		t.Fatal(err)
	}

	// Another process unlinks spare: the cached account must not let it answer.
	f.write(domain.AccountStream(id), domain.DeviceUnlinked{AccountID: id, DeviceID: spare.id, At: f.clock.Now()})
	if err := f.s.AnswerChallenge(f.ctx, spare.id, ch.ID, domain.AnswerApprove, ch.Number, sig); !errors.Is(err, domain.ErrDeviceNotLinked) {
		t.Fatalf("answer from a device another writer unlinked: %v, want ErrDeviceNotLinked", err)
	}
	f.checkLoad(domain.AccountStream(id))

	// Another process records a receipt between the service's read and its own receipt,
	// appended with "stream exists": the service must not take its receipt to follow the event
	// it had cached.
	var once sync.Once
	cs.setBefore(func(call, s string) {
		if call == "append" && s == domain.ChallengeStream(ch.ID) {
			once.Do(func() {
				if err := writeTo(f.ctx, f.store, s, domain.ChallengeDelivered{ChallengeID: ch.ID, DeviceID: spare.id, At: f.clock.Now()}); err != nil {
					t.Error(err)
				}
			})
		}
	})
	if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
		t.Fatal(err)
	}
	cs.setBefore(nil)
	f.checkLoad(domain.ChallengeStream(ch.ID))

	// Another node cancels the challenge: the cached challenge must not let phone approve it.
	other, err := New(Config{Store: f.store, Keyring: f.s.keyring, Policy: f.s.policy, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.cancel(other.op(f.ctx, systemActor), ch.ID, domain.CancelAbandoned); err != nil {
		t.Fatal(err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("answer to a challenge another node cancelled: %v, want ErrChallengeAlreadyDecided", err)
	}
	want := []string{"challenge.issued", "challenge.delivered", "challenge.delivered", "challenge.cancelled"}
	if got := f.types(domain.ChallengeStream(ch.ID)); !equal(got, want) {
		t.Fatalf("challenge stream = %v, want %v", got, want)
	}
}

// TestStreamCacheTrustsKnownHeads checks that a cached stream whose head the store knows to
// be the cached last event is not read at all, and that a write the service did not make (by
// another writer through the same store) is still seen.
func TestStreamCacheTrustsKnownHeads(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	cs := f.countReadsWithHeads()
	id := f.account("heads@example.com")
	phone, spare := newDevice(t), newDevice(t)
	f.enroll(id, phone)
	f.enroll(id, spare)
	account := domain.AccountStream(id)

	// The service's own appends keep its entries at the known heads: an answer reads nothing.
	ch := f.challenge(id)
	if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
		t.Fatal(err)
	}
	cs.take()
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
	if got := cs.take(); len(got) != 0 {
		t.Fatalf("answer read %+v, want no read: both streams are cached at their known heads", got)
	}
	f.checkLoad(domain.ChallengeStream(ch.ID))
	f.checkLoad(account)

	// Another writer unlinks spare: the known head is past the entry, so the load reads what
	// follows it, and spare is refused.
	ch = f.challenge(id)
	sig := f.sign(spare, ch.ID, domain.AnswerApprove, ch.Number)
	_, before := f.stored(account)
	f.write(account, domain.DeviceUnlinked{AccountID: id, DeviceID: spare.id, At: f.clock.Now()})
	cs.take()
	if err := f.s.AnswerChallenge(f.ctx, spare.id, ch.ID, domain.AnswerApprove, ch.Number, sig); !errors.Is(err, domain.ErrDeviceNotLinked) {
		t.Fatalf("answer from a device another writer unlinked: %v, want ErrDeviceNotLinked", err)
	}
	if got, want := cs.take(), []streamRead{{account, before, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("answer after another writer's append read %+v, want %+v", got, want)
	}
	f.checkLoad(account)

	// Another node cancels the challenge: phone's approval is refused.
	other, err := New(Config{Store: f.store, Keyring: f.s.keyring, Policy: f.s.policy, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.cancel(other.op(f.ctx, systemActor), ch.ID, domain.CancelAbandoned); err != nil {
		t.Fatal(err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("answer to a challenge another node cancelled: %v, want ErrChallengeAlreadyDecided", err)
	}
	if got, want := f.types(domain.ChallengeStream(ch.ID)), []string{"challenge.issued", "challenge.cancelled"}; !equal(got, want) {
		t.Fatalf("challenge stream = %v, want %v", got, want)
	}
}

func TestStreamCacheDropsEntriesTheStoreDoesNotHold(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("drop@example.com")
	stream := domain.AccountStream(id)
	_, last := f.stored(stream)
	bogus := accountOf(t, domain.AccountRegistered{AccountID: id, Email: mustEmail("bogus@example.com"), At: t0})
	for name, c := range map[string]*cachedStream{
		"another event at the cached version": {account: bogus, version: last, lastID: uuid.New()},
		"a version past the end":              {account: bogus, version: last + 5, lastID: uuid.New()},
	} {
		f.s.streams.c.Set(stream, c) // not put: put keeps the later version cached
		f.checkLoad(stream)
		if e := f.s.streams.get(stream); e == c || e == nil || e.version != last {
			t.Fatalf("%s: the entry after a load is %+v, want the stream at version %d", name, e, last)
		}
	}
	// A cached stream the store does not have is no stream.
	missingID := uuid.New()
	missing := domain.AccountStream(missingID)
	f.s.streams.put(missing, &cachedStream{account: bogus, version: 0, lastID: uuid.New()})
	a, expected, err := f.s.loadAccountStream(f.ctx, missingID)
	if err != nil || a.Exists() || expected != eventstore.NoStream() {
		t.Fatalf("load of a missing stream = %v, %s, %v; want no account, no stream", a.Exists(), expected, err)
	}
	if f.s.streams.get(missing) != nil {
		t.Fatal("the entry of a missing stream was kept")
	}
	// Likewise for a stream loaded as events.
	missing = domain.ChallengeStream(uuid.New())
	f.s.streams.put(missing, &cachedStream{events: []domain.Event{domain.SignInFailed{AccountID: id, At: t0}}, version: 0, lastID: uuid.New()})
	events, expected, err := f.s.load(f.ctx, missing)
	if err != nil || len(events) != 0 || expected != eventstore.NoStream() {
		t.Fatalf("load of a missing stream = %d events, %s, %v; want none, no stream", len(events), expected, err)
	}
	if f.s.streams.get(missing) != nil {
		t.Fatal("the entry of a missing stream was kept")
	}
}

func TestStreamCacheConflictRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	cs := f.countReads()
	id := f.account("conflict@example.com")
	stream := domain.AccountStream(id)
	f.checkLoad(stream) // cached

	// Another writer appends between the load and the append of the first attempt.
	attempts := 0
	var seen []int
	res, err := f.s.op(f.ctx, systemActor).updateAccount(id, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		attempts++
		seen = append(seen, a.Version())
		if attempts == 1 {
			if err := writeTo(f.ctx, f.store, stream, domain.SignInFailed{AccountID: id, At: now}); err != nil {
				return domain.Decision{}, err
			}
		}
		return a.RecordFailedSignIn(domain.RecordFailedSignIn{Source: domain.SourceOfIP(lc.IP)}, now, f.s.policy), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || seen[1] != seen[0]+1 {
		t.Fatalf("attempts = %d seeing %v events; want 2, the second seeing the other writer's event", attempts, seen)
	}
	events, last := f.stored(stream)
	if res.Version != last || f.count(stream, "account.signin.failed") != 2 {
		t.Fatalf("append result %+v; stream %v at version %d: want both failures", res, f.types(stream), last)
	}
	if _, ok := events[len(events)-1].(domain.SignInFailed); !ok {
		t.Fatalf("last event = %T", events[len(events)-1])
	}
	cs.take()
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, last, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("load after the retried append read %+v, want %+v", got, want)
	}

	// An answer whose challenge moves between its first read and its append conflicts and reads
	// it again: the cancellation wins, and nothing else is written.
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.challenge(id)
	sig := f.sign(phone, ch.ID, domain.AnswerApprove, ch.Number)
	var once sync.Once
	cs.setBefore(func(call, s string) {
		if call == "read" && s == stream { // the account is read after the challenge
			once.Do(func() {
				if err := writeTo(f.ctx, f.store, domain.ChallengeStream(ch.ID), domain.ChallengeCancelled{ChallengeID: ch.ID, AccountID: id, Reason: domain.CancelAbandoned, At: f.clock.Now()}); err != nil {
					t.Error(err)
				}
			})
		}
	})
	defer cs.setBefore(nil)
	if err := f.s.AnswerChallenge(f.ctx, phone.id, ch.ID, domain.AnswerApprove, ch.Number, sig); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("answer to a challenge cancelled meanwhile: %v, want ErrChallengeAlreadyDecided", err)
	}
	want := []string{"challenge.issued", "challenge.cancelled"}
	if got := f.types(domain.ChallengeStream(ch.ID)); !equal(got, want) {
		t.Fatalf("challenge stream = %v, want %v", got, want)
	}
}

func TestStreamCacheBound(t *testing.T) {
	t.Parallel()
	const entry, bound = 1000, 8 * 1000
	sc := newStreamCache(bound)
	for i := range 100 {
		sc.put(fmt.Sprint("s-", i), &cachedStream{version: uint64(i), bytes: entry})
		if w := sc.weight(); w > bound {
			t.Fatalf("after %d puts the cache holds %d bytes, want at most %d", i+1, w, bound)
		}
	}
	if n := sc.len(); n == 0 || n > bound/entry {
		t.Fatalf("the cache holds %d streams of %d bytes, want between 1 and %d", n, entry, bound/entry)
	}
	// put keeps the later version; drop leaves an entry that is not the one it was given.
	a, b := &cachedStream{version: 3}, &cachedStream{version: 2}
	sc.put("x", a)
	sc.put("x", b)
	if sc.get("x") != a {
		t.Fatal("an earlier version replaced a later one")
	}
	sc.drop("x", b)
	if sc.get("x") != a {
		t.Fatal("drop removed an entry it was not given")
	}
	sc.drop("x", a)
	if sc.get("x") != nil {
		t.Fatal("drop left its entry")
	}

	// A service with a small cache stays within it and still loads every stream right.
	f := newFixture(t, domain.Policy{})
	const small = 4096
	f.s.streams = newStreamCache(small)
	var streams []string
	for i := range 6 {
		addr := fmt.Sprintf("bound%d@example.com", i)
		id := f.account(addr) // appends to two streams, both remembered
		email, err := domain.ParseEmail(addr)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, domain.AccountStream(id), newClaimStream(t, f.s, email))
		if w := f.s.streams.weight(); w > small {
			t.Fatalf("the cache holds %d bytes, want at most %d", w, small)
		}
	}
	for range 2 {
		for _, s := range streams {
			f.checkLoad(s)
			if w := f.s.streams.weight(); w > small {
				t.Fatalf("the cache holds %d bytes, want at most %d", w, small)
			}
		}
	}
}

// TestStreamCacheWeighsEntries checks that an entry's weight follows what it holds: an
// account by its state, whatever the length of its stream; a stream's events by their size.
func TestStreamCacheWeighsEntries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("weigh@example.com")
	f.enroll(id, newDevice(t))
	stream := domain.AccountStream(id)
	f.checkLoad(stream)
	short := f.s.streams.get(stream)
	f.pastSignIns(id, 2000)
	f.checkLoad(stream)
	long := f.s.streams.get(stream)
	if short == nil || long == nil || long.version != short.version+2000 {
		t.Fatalf("entries %+v and %+v, want the account cached before and after 2,000 sign-ins", short, long)
	}
	if long.bytes > 2*short.bytes {
		t.Fatalf("an account with 2,000 more sign-ins weighs %d bytes, %d before: want the same order", long.bytes, short.bytes)
	}
	// The same stream loaded as events weighs at least its events.
	events, _, err := f.s.load(f.ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.s.streams.get(stream); c == nil || c.account != nil || c.bytes < len(events)*eventOverhead {
		t.Fatalf("the entry of %d events is %+v", len(events), c)
	}
}

func TestStreamCacheConcurrentCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{LockoutThreshold: 100}) // denials count as failures
	f.s.tries = 50                                           // six writers on one account
	id := f.account("concurrent@example.com")
	devices := []*device{newDevice(t), newDevice(t)}
	for _, d := range devices {
		f.enroll(id, d)
	}
	stream := domain.AccountStream(id)
	var issuers, others sync.WaitGroup
	done := make(chan struct{})
	// Sign-ins: the account stream, a new challenge, the older one cancelled.
	for range 2 {
		issuers.Go(func() {
			for range 5 {
				if _, err := f.issue(id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Loads whose callers fold more onto what they got, as CompleteEnrollment does.
	for range 2 {
		others.Go(func() {
			for {
				a, _, err := f.s.loadAccountStream(f.ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := a.Fold(domain.SignInFailed{AccountID: id, At: t0}); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	// Receipts and denials (mirrored on the account) of whatever challenge is pending.
	var denied atomic.Int32
	for _, d := range devices {
		others.Go(func() {
			for last := false; !last; {
				select {
				case <-done:
					last = true
				default:
				}
				pending, err := f.s.PendingChallengesForDevice(f.ctx, d.id)
				if err != nil {
					t.Error(err)
					return
				}
				for _, p := range pending { // a newer sign-in may have cancelled it meanwhile
					err := f.s.AcknowledgeDelivery(f.ctx, d.id, p.ChallengeID)
					if err == nil {
						err = f.answer(d, p.ChallengeID, domain.AnswerDeny, 0)
					}
					if err == nil {
						denied.Add(1)
					} else if !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	issuers.Wait()
	close(done)
	others.Wait()
	f.checkLoad(stream)
	if got, want := f.count(stream, "account.signin.challenged"), 10; got != want {
		t.Fatalf("%d challenges recorded on the account, want %d", got, want)
	}
	if got, want := f.count(stream, "account.challenge.failed"), int(denied.Load()); got != want {
		t.Fatalf("%d failures recorded on the account, want one per denial (%d)", got, want)
	}
	t.Logf("%d challenges denied", denied.Load())
}
