package app

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// historySignIns is the number of earlier sign-ins of the long account in
// BenchmarkSignInHistory.
const historySignIns = 100_000

// BenchmarkSignInHistory compares a sign-in on a new account with one on an account with
// 100,000 earlier sign-ins (each an account.signin.challenged in its stream), the stream cache
// emptied before every sign-in, as after a restart or an eviction; the snapshots saved in the
// node's local database are kept, as they are across a restart. "signin" is the whole
// SignIn (email, account, the argon2id check, the challenge issued); "issue" is the same
// without the password check; "load" is the account's load alone, the part a long history
// could slow down.
func BenchmarkSignInHistory(b *testing.B) {
	f := newFixture(b, domain.Policy{})
	fresh := f.account("fresh@example.com")
	long := f.account("long@example.com")
	for _, id := range []uuid.UUID{fresh, long} {
		f.enroll(id, newDevice(b))
	}
	f.pastSignIns(long, historySignIns)
	// The first sign-in on the long account reads its whole stream, once, and saves its first
	// snapshot, as the first load after an upgrade does; the sign-ins measured start from it.
	// One on the new account too, so that neither pays the process's first password check.
	for _, email := range []string{"long@example.com", "fresh@example.com"} {
		if _, err := f.s.SignIn(f.ctx, email, testPassword, lc); err != nil {
			b.Fatal(err)
		}
	}
	accounts := []struct {
		name  string
		id    uuid.UUID
		email string
	}{{"new", fresh, "fresh@example.com"}, {"100k", long, "long@example.com"}}
	// Each kind measures both accounts one after the other, so that the machine's load falls
	// on both alike.
	kinds := []struct {
		name string
		run  func(id uuid.UUID, email string) error
	}{
		{"signin", func(_ uuid.UUID, email string) error {
			_, err := f.s.SignIn(f.ctx, email, testPassword, lc)
			return err
		}},
		{"issue", func(id uuid.UUID, _ string) error { _, err := f.issue(id); return err }},
		{"load", func(id uuid.UUID, _ string) error { _, err := f.s.loadAccount(f.ctx, id); return err }},
	}
	for _, kind := range kinds {
		for _, acc := range accounts {
			b.Run(kind.name+"/"+acc.name, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					f.s.streams = newStreamCache(streamCacheBytes)
					b.StartTimer()
					if err := kind.run(acc.id, acc.email); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// pastSignIns appends n earlier sign-ins to an account's stream, straight to the store in batches,
// as a long-lived account's log holds them (each challenge long expired), and waits for the
// read models to fold them.
func (f *fixture) pastSignIns(id uuid.UUID, n int) {
	f.t.Helper()
	stream := domain.AccountStream(id)
	at := t0.Add(-time.Duration(n) * time.Minute)
	const batch = 1000
	var last eventstore.Position
	for done := 0; done < n; done += batch {
		data := make([]eventstore.EventData, 0, batch)
		for i := 0; i < batch && done+i < n; i++ {
			e := domain.SignInChallenged{AccountID: id, ChallengeID: uuid.New(), ExpiresAt: at.Add(time.Minute), At: at}
			at = at.Add(time.Minute)
			typ, ver, raw, err := domain.Encode(e)
			if err != nil {
				f.t.Fatal(err)
			}
			data = append(data, eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: raw, Metadata: eventstore.Metadata{Actor: accountActor(id)}})
		}
		res, err := f.store.Append(f.ctx, stream, eventstore.StreamExists(), data...)
		if err != nil {
			f.t.Fatal(err)
		}
		last = res.Position
	}
	if err := f.views.WaitFor(f.ctx, last); err != nil {
		f.t.Fatal(err)
	}
}
