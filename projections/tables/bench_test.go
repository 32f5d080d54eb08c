package tables_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/tables"
)

// syntheticLog is a LogReader over a realistic log that it encodes as it is read, so that
// millions of events need no memory: accounts registered with a linked phone and backup
// codes, then sign-ins (challenge issued, delivered, approved, redeemed), wrong passwords and
// sign-outs, an event every 100 ms of event time. It is deterministic (seeded).
type syntheticLog struct {
	total    int
	accounts int // how many are registered first
	events   []eventstore.RecordedEvent
	pos      eventstore.Position
	rng      *rand.Rand
	ids      []uuid.UUID
	devices  []uuid.UUID
	t0       time.Time
}

func newSyntheticLog(total int) *syntheticLog {
	return &syntheticLog{total: total, accounts: total / 10, rng: rand.New(rand.NewPCG(1, 2)), t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (l *syntheticLog) add(stream string, e domain.Event) {
	typ, ver, data, err := domain.Encode(e)
	if err != nil {
		panic(err)
	}
	l.pos++
	l.events = append(l.events, eventstore.RecordedEvent{ID: uuid.New(), Stream: stream, Type: typ, SchemaVersion: ver, Data: data, Position: l.pos})
}

func (l *syntheticLog) now() time.Time {
	return l.t0.Add(time.Duration(l.pos) * 100 * time.Millisecond)
}

// next appends the events of one step: an account's registration or a sign-in.
func (l *syntheticLog) next() {
	at := l.now()
	if len(l.ids) < l.accounts {
		id, dev := uuid.Must(uuid.NewV7()), uuid.New() // as the application makes them
		email, _ := domain.ParseEmail(fmt.Sprintf("user%d@example.com", len(l.ids)))
		key := make([]byte, 32)
		acct := domain.AccountStream(id)
		l.add(acct, domain.AccountRegistered{AccountID: id, Email: email, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo", At: at})
		l.add("device-"+dev.String(), domain.DeviceRegistered{DeviceID: dev, PublicKey: key, Name: "phone", Platform: "android", At: at})
		l.add(acct, domain.DeviceLinked{AccountID: id, DeviceID: dev, PublicKey: key, Name: "phone", Method: domain.LinkFromPhone, SealedTOTPSecret: make([]byte, 48), At: at})
		l.add(acct, domain.MFAEnabled{AccountID: id, At: at})
		hashes := make([]string, 10)
		for i := range hashes {
			hashes[i] = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
		}
		l.add(acct, domain.BackupCodesIssued{AccountID: id, SetID: uuid.New(), Hashes: hashes, At: at})
		l.ids, l.devices = append(l.ids, id), append(l.devices, dev)
		return
	}
	i := l.rng.IntN(len(l.ids))
	id, dev := l.ids[i], l.devices[i]
	acct := domain.AccountStream(id)
	if l.rng.IntN(5) == 0 {
		l.add(acct, domain.SignInFailed{AccountID: id, At: at})
		return
	}
	ch := uuid.Must(uuid.NewV7())
	ctx := domain.LoginContext{UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", IP: "203.0.113.7", At: at.Truncate(time.Second)}
	digest := sha256.Sum256([]byte(ch.String()))
	stream := domain.ChallengeStream(ch)
	l.add(acct, domain.SignInChallenged{AccountID: id, ChallengeID: ch, ExpiresAt: at.Add(2 * time.Minute), At: at})
	l.add(stream, domain.ChallengeIssued{ChallengeID: ch, AccountID: id, Number: 42, Context: ctx, ContextDigest: digest[:],
		Devices: []domain.ChallengeDevice{{DeviceID: dev, PublicKey: make([]byte, 32)}}, ExpiresAt: at.Add(2 * time.Minute), At: at})
	l.add(stream, domain.ChallengeDelivered{ChallengeID: ch, DeviceID: dev, At: at})
	l.add(stream, domain.ChallengeApproved{ChallengeID: ch, AccountID: id, DeviceID: dev, Number: 42, Signature: make([]byte, 64), At: at})
	l.add(stream, domain.ChallengeRedeemed{ChallengeID: ch, AccountID: id, Purpose: domain.RedeemSession, SessionDigest: digest[:], At: at})
	if l.rng.IntN(3) == 0 {
		l.add(acct, domain.SignedOut{AccountID: id, SessionDigest: digest[:], Until: at.Add(12 * time.Hour), At: at})
	}
}

// ReadAll returns the next events after after, generating them; reads must go forward.
func (l *syntheticLog) ReadAll(_ context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if after == 0 && l.pos > 0 { // read again from the start
		*l = *newSyntheticLog(l.total)
	}
	for len(l.events) > 0 && l.events[0].Position <= after {
		l.events = l.events[1:]
	}
	for len(l.events) < limit && int(l.pos) < l.total {
		l.next()
	}
	n := min(limit, len(l.events))
	page := append([]eventstore.RecordedEvent(nil), l.events[:n]...)
	l.events = l.events[n:]
	return page, nil
}

// cpuTime is the CPU time the process has used, user and system: on a shared machine, a
// figure that other processes do not inflate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRebuild rebuilds the read models into readmodels.db from a synthetic log of
// ASSENT_BENCH_EVENTS events (default 1,000,000) and reports events/s, and events per CPU
// second (the log is generated and encoded by the same process, as a store's read would cost).
// Run it once:
//
//	go test -run '^$' -bench BenchmarkRebuild -benchtime 1x ./projections/tables/
func BenchmarkRebuild(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("ASSENT_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db, err := localdb.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		store, err := tables.OpenSQLite(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		set, err := projections.OpenSet(ctx, store, nil)
		if err != nil {
			b.Fatal(err)
		}
		set.Challenges.RetainFor(24 * time.Hour)
		cpu0 := cpuTime()
		b.StartTimer()
		st, err := set.Rebuild(ctx, newSyntheticLog(total))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(st.Events)/st.Took.Seconds(), "events/s")
		b.ReportMetric(float64(st.Events)/cpu.Seconds(), "events/cpu-s")
		b.Logf("%d events in %s (%s of CPU): %.0f events/s, %.0f events per CPU second; %d accounts, %d devices, %d challenges, %d signouts",
			st.Events, st.Took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(st.Events)/st.Took.Seconds(), float64(st.Events)/cpu.Seconds(),
			st.Accounts, st.Devices, st.Challenges, st.SignOuts)
		db.Close()
	}
}

// BenchmarkSessionCheck measures what the sessions read model costs every signed-in request
// on a node's SQLite tables: the cut check (Sessions.Ended) and the "last seen" lookup
// (Sessions.Get), with 10,000 live sessions of 1,000 accounts that each ended their other
// sessions once.
func BenchmarkSessionCheck(b *testing.B) {
	ctx := context.Background()
	db, err := localdb.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, err := tables.OpenSQLite(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	set, err := projections.OpenSet(ctx, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().UTC()
	var events []eventstore.RecordedEvent
	add := func(e domain.Event) {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, Position: eventstore.Position(len(events) + 1)})
	}
	accounts := make([]uuid.UUID, 1000)
	ids := make([][16]byte, 10000)
	for i := range accounts {
		accounts[i] = uuid.New()
		add(domain.SessionsEnded{AccountID: accounts[i], Until: t0.Add(12 * time.Hour), At: t0})
	}
	for i := range ids {
		ids[i] = uuid.New()
		d := sha256.Sum256(ids[i][:])
		add(domain.SessionStarted{AccountID: accounts[i%len(accounts)], SessionDigest: d[:], Expires: t0.Add(12 * time.Hour), At: t0.Add(time.Second)})
	}
	if err := set.ApplyBatch(ctx, events); err != nil {
		b.Fatal(err)
	}
	b.Run("ended+get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			id := ids[i%len(ids)]
			if set.Sessions.Ended(accounts[i%len(accounts)], id, t0.Add(time.Second)) {
				b.Fatal("a session begun after the cut is ended")
			}
			if _, ok := set.Sessions.Get(sha256.Sum256(id[:])); !ok {
				b.Fatal("a live session is not held")
			}
			i++
		}
	})
	// For scale: the sign-out check every signed-in request already made, one row read.
	b.Run("signedout", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if set.SignOuts.SignedOut(ids[i%len(ids)]) {
				b.Fatal("a session is signed out")
			}
			i++
		}
	})
}
