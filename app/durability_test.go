package app

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/secrets"
)

// errInterrupted stands for whatever stops a registration half way: the client gone, the
// process killed, the disk full.
var errInterrupted = errors.New("disk I/O error")

// interruptingStore fails, once, the first write that would create an account stream, and
// writes nothing of it: the moment a registration is interrupted.
type interruptingStore struct {
	*sqlite.Store
	armed atomic.Bool
}

func touchesAccount(streams ...string) bool {
	for _, s := range streams {
		if strings.HasPrefix(s, "account-") {
			return true
		}
	}
	return false
}

func (s *interruptingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if touchesAccount(stream) && s.armed.CompareAndSwap(true, false) {
		return eventstore.AppendResult{}, errInterrupted
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

func (s *interruptingStore) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	var streams []string
	for _, p := range parts {
		streams = append(streams, p.Stream)
	}
	if touchesAccount(streams...) && s.armed.CompareAndSwap(true, false) {
		return nil, errInterrupted
	}
	return s.Store.AppendMulti(ctx, parts...)
}

// twoStepStore is a store that cannot append to several streams at once (as EventStoreDB):
// it hides the SQLite store's AppendMulti.
type twoStepStore struct {
	eventstore.Store
}

func interruptedFixture(t *testing.T, twoStep bool) (*Service, *clock) {
	t.Helper()
	raw, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	store := &interruptingStore{Store: raw}
	store.armed.Store(true)
	var es eventstore.Store = store
	if twoStep {
		es = twoStepStore{store}
	}
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	s, err := New(Config{Store: es, Keyring: kr, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// TestInterruptedRegistrationDoesNotBlockTheEmail interrupts a registration at the write of
// its account. The claim and the account are one atomic write on a store that can do it, so
// nothing was written and registering again succeeds at once; the account signs in.
func TestInterruptedRegistrationDoesNotBlockTheEmail(t *testing.T) {
	t.Parallel()
	s, _ := interruptedFixture(t, false)
	ctx := context.Background()
	if _, err := s.Register(ctx, "ada@example.com", "first password"); !errors.Is(err, errInterrupted) {
		t.Fatalf("interrupted registration: %v, want the interruption", err)
	}
	id, err := s.Register(ctx, "ada@example.com", "second password")
	if err != nil {
		t.Fatalf("registering again after the interruption: %v", err)
	}
	res, err := s.SignIn(ctx, "ada@example.com", "second password", lc)
	if err != nil || res.AccountID != id || !res.SessionGranted {
		t.Fatalf("sign in after registering again: %+v, %v; want a session for %s", res, err, id)
	}
}

// TestUnfinishedClaimIsTakenOver interrupts a registration on a store that writes the claim
// and the account in two appends, which leaves a claim whose account does not exist (as an
// earlier version left some). The email reads as taken while the claim is young (another node
// may still be writing its account), and a registration takes it over once it is
// UnfinishedClaimTakeover old; the new account signs in and the unfinished one never appears.
func TestUnfinishedClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	s, c := interruptedFixture(t, true)
	ctx := context.Background()
	if _, err := s.Register(ctx, "ada@example.com", "first password"); !errors.Is(err, errInterrupted) {
		t.Fatalf("interrupted registration: %v, want the interruption", err)
	}
	events, _, err := s.load(ctx, newClaimStream(t, s, mustEmail("ada@example.com")))
	if err != nil || len(events) != 1 {
		t.Fatalf("the interruption should leave the claim alone: %d events, %v", len(events), err)
	}
	orphan := events[0].(domain.EmailClaimed).AccountID
	if _, err := s.Register(ctx, "ada@example.com", "second password"); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("registering at once over a young claim: %v, want ErrEmailTaken", err)
	}
	c.Advance(domain.UnfinishedClaimTakeover)
	id, err := s.Register(ctx, "ada@example.com", "second password")
	if err != nil {
		t.Fatalf("registering over an unfinished claim: %v", err)
	}
	res, err := s.SignIn(ctx, "ada@example.com", "second password", lc)
	if err != nil || res.AccountID != id {
		t.Fatalf("sign in after the takeover: %+v, %v; want %s", res, err, id)
	}
	if _, err := s.loadAccount(ctx, orphan); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Fatalf("the unfinished account: %v, want ErrAccountNotFound", err)
	}
	c.Advance(domain.UnfinishedClaimTakeover)
	if _, err := s.Register(ctx, "ada@example.com", "third password"); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("registering over a finished claim: %v, want ErrEmailTaken", err)
	}
	if id == uuid.Nil {
		t.Fatal("no account ID")
	}
}

// TestUsedBackupCodeStaysUsedAfterItsIndexEntryIsDeleted uses a backup code, stops, deletes
// the stream_index row of the backup code's use with SQL (as the operator's trial did), and
// starts again on the same file: the store rebuilds the index from the log at open, so the
// used code is refused, not accepted a second time.
func TestUsedBackupCodeStaysUsedAfterItsIndexEntryIsDeleted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	open := func() *fixture {
		store, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{Store: store, Keyring: kr, Clock: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		return &fixture{t: t, ctx: context.Background(), s: s, store: store, clock: c}
	}
	f := open()
	id := f.account("backup@example.com")
	codes := f.enroll(id, newDevice(t)).BackupCodes
	if err := f.s.CompleteWithBackupCode(f.ctx, f.challenge(id).ID, codes[0]); err != nil {
		t.Fatal(err)
	}
	evs, err := f.store.ReadStream(f.ctx, domain.AccountStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := -1
	for _, ev := range evs {
		if ev.Type == "backupcodes.used" {
			used = int(ev.Version)
		}
	}
	if used < 0 {
		t.Fatal("no backupcodes.used event in the account stream")
	}
	if err := f.store.Close(); err != nil { // moves every entry into stream_index
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`DELETE FROM stream_index WHERE stream = ? AND version = ?`, domain.AccountStream(id), used)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("delete the index row: %d rows, %v", n, err)
	}
	db.Close()

	f = open()
	defer f.store.Close()
	if f.store.Stats().Reindexed == 0 {
		t.Error("the store opened without rebuilding the index it found short")
	}
	if err := f.s.CompleteWithBackupCode(f.ctx, f.challenge(id).ID, codes[0]); !errors.Is(err, domain.ErrCodeReused) {
		t.Fatalf("the used backup code after its index row was deleted: %v, want ErrCodeReused", err)
	}
}
