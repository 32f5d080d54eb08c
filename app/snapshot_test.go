package app

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/snapshots"
)

// TestAccountLoadReadsOnlyWhatFollowsItsSnapshot checks that an account not in the stream
// cache (a restart, an eviction) is read from its snapshot's last event on, whatever the
// length of its stream, and that a snapshot the stream does not match, or that does not
// restore, is ignored: the whole stream is read and decides.
func TestAccountLoadReadsOnlyWhatFollowsItsSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("snap@example.com")
	f.enroll(id, newDevice(t))
	stream := domain.AccountStream(id)
	f.pastSignIns(id, 1000)
	cs := f.countReads() // a new service: nothing cached
	f.checkLoad(stream)
	_, last := f.stored(stream)
	if got, want := cs.take(), []streamRead{{stream, 0, int(last) + 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first load read %+v, want %+v: the whole stream, as no snapshot is saved yet", got, want)
	}
	snap, ok, err := f.s.snapshots.Snapshot(f.ctx, stream)
	if err != nil || !ok || snap.Version != last {
		t.Fatalf("snapshot after the first load: %+v, %v, %v; want one at version %d", snap, ok, err, last)
	}

	// Cold again: the snapshot is at the head, one row is read.
	f.countReads()
	cs = f.s.store.(*countingStore)
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, last, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("load from the snapshot read %+v, want %+v", got, want)
	}

	// Another writer appends: a cold load reads the snapshot's last event and what follows.
	for range 10 {
		f.write(stream, domain.SignInFailed{AccountID: id, Source: domain.SourceOfIP(lc.IP), At: f.clock.Now()})
	}
	f.countReads()
	cs = f.s.store.(*countingStore)
	f.checkLoad(stream)
	if got, want := cs.take(), []streamRead{{stream, last, 11}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("load after 10 more events read %+v, want %+v", got, want)
	}

	// A snapshot whose last event is not the stream's at its version, and one of a schema this
	// version does not read, are ignored.
	_, head := f.stored(stream)
	for name, bad := range map[string]snapshots.Snapshot{
		"another last event": {Version: snap.Version, LastID: uuid.New(), Schema: snap.Schema, Data: snap.Data},
		"past the stream":    {Version: head + 100, LastID: snap.LastID, Schema: snap.Schema, Data: snap.Data},
		"another schema":     {Version: snap.Version, LastID: snap.LastID, Schema: snap.Schema + 1, Data: snap.Data},
	} {
		if err := f.s.snapshots.SaveSnapshot(f.ctx, stream, bad); err != nil {
			t.Fatal(err)
		}
		f.countReads()
		cs = f.s.store.(*countingStore)
		f.checkLoad(stream)
		reads := cs.take()
		if last := reads[len(reads)-1]; last != (streamRead{stream, 0, int(head) + 1}) {
			t.Fatalf("%s: load read %+v, want the whole stream last", name, reads)
		}
		if got, _, err := f.s.snapshots.Snapshot(f.ctx, stream); err != nil || got.Version != head || got.Schema != domain.AccountSnapshotSchema {
			t.Fatalf("%s: the snapshot after the load is %+v, %v; want one at the head, %d", name, got, err, head)
		}
	}
}

// TestCommandsSaveSnapshotsAsTheStreamGrows checks that an account whose stream grows by
// commands (the stream cache extended by each append, never read) is saved as a snapshot every
// snapshotEvery events, and that a cold load decides as the cached one: the source locked by
// wrong passwords stays locked, with the doubled duration.
func TestCommandsSaveSnapshotsAsTheStreamGrows(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("grow@example.com")
	stream := domain.AccountStream(id)
	src := domain.SourceOfIP(lc.IP)
	fail := func() {
		t.Helper()
		if _, err := f.s.op(f.ctx, systemActor).updateAccount(id, func(a *domain.Account, now time.Time) (domain.Decision, error) {
			return a.RecordFailedSignIn(domain.RecordFailedSignIn{Source: src}, now, f.s.policy), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 * snapshotEvery {
		fail()
		f.clock.Advance(time.Minute) // one lock of this source after another, each doubled
	}
	_, head := f.stored(stream)
	snap, ok, err := f.s.snapshots.Snapshot(f.ctx, stream)
	if err != nil || !ok || head-snap.Version >= snapshotEvery {
		t.Fatalf("snapshot %+v, %v, %v with the stream at version %d: want one at most %d events behind", snap, ok, err, head, snapshotEvery)
	}
	warm, err := f.s.loadAccount(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cs := f.countReads()
	cold, err := f.s.loadAccount(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cs.take(), []streamRead{{stream, snap.Version, int(head-snap.Version) + 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("cold load read %+v, want %+v", got, want)
	}
	now := f.clock.Now()
	wl, wu := warm.SignInLock(src, now)
	cl, cu := cold.SignInLock(src, now)
	if !wl || wl != cl || !wu.Equal(cu) {
		t.Fatalf("sign-in lock: cached %v until %s, from the snapshot %v until %s; want the same lock", wl, wu, cl, cu)
	}
	f.checkLoad(stream)
}

// TestSessionEvidenceFindsTheSignInBehindLaterEvents checks that the evidence of a session
// whose challenge is not known is found among the account's recent sign-ins even when more
// events than a page of the backwards read came after it, and that a sign-in older than a
// challenge's lifetime before the session is not taken.
func TestSessionEvidenceFindsTheSignInBehindLaterEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("evidence@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	f.pastSignIns(id, 500) // older sign-ins, long expired
	ch := f.challenge(id)
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	digest[0] = 7
	if err := f.s.RedeemChallenge(f.ctx, ch.ID, id, domain.RedeemSession, digest); err != nil {
		t.Fatal(err)
	}
	signedIn := f.clock.Now()
	for range 200 { // wrong passwords after the sign-in, more than three pages
		f.write(domain.AccountStream(id), domain.SignInFailed{AccountID: id, Source: domain.SourceOfIP("198.51.100.9"), At: signedIn})
	}
	ev, err := f.s.SessionEvidence(f.ctx, id, digest, uuid.Nil, signedIn)
	if err != nil || ev.ChallengeID != ch.ID || ev.DeviceID != phone.id {
		t.Fatalf("evidence = %+v, %v; want the approved challenge %s", ev, err, ch.ID)
	}
	// A day later the same session's sign-in is too old to be searched for.
	if _, err := f.s.SessionEvidence(f.ctx, id, digest, uuid.Nil, signedIn.Add(24*time.Hour)); !errors.Is(err, ErrNoSignInEvidence) {
		t.Fatalf("evidence a day later: %v, want ErrNoSignInEvidence", err)
	}
}
