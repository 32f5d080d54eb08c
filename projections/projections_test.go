package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

func recorded(t *testing.T, pos eventstore.Position, e domain.Event) eventstore.RecordedEvent {
	t.Helper()
	typ, ver, data, err := domain.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.Must(uuid.NewV7()), Type: typ, SchemaVersion: ver, Data: data, Position: pos}
}

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestApplyIsIdempotentAndWaitForFollowsThePosition(t *testing.T) {
	t.Parallel()
	p := projections.NewAccounts()
	id := uuid.Must(uuid.NewV7())
	email, _ := domain.ParseEmail("x@example.com")
	reg := recorded(t, 3, domain.AccountRegistered{AccountID: id, Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: at})
	issued := recorded(t, 5, domain.BackupCodesIssued{AccountID: id, SetID: uuid.Must(uuid.NewV7()), Hashes: []string{"k:1", "k:2"}, At: at})
	used := recorded(t, 7, domain.BackupCodeUsed{AccountID: id, SetID: mustSet(t, issued), Index: 1, At: at})
	done := make(chan error, 1)
	go func() { done <- p.WaitFor(context.Background(), 7) }()
	for _, ev := range []eventstore.RecordedEvent{reg, issued, used, used, issued} {
		if err := p.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	v, err := p.Get(id)
	if err != nil || v.BackupCodesLeft != 1 || p.Position() != 7 {
		t.Fatalf("view %+v, %v at %d: want 1 code left at position 7 after redeliveries", v, err, p.Position())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.WaitFor(ctx, 8); err == nil {
		t.Fatal("WaitFor a position never reached returned nil")
	}
	if err := p.Apply(eventstore.RecordedEvent{Type: "account.registered", SchemaVersion: 1, Data: []byte(`{`), Position: 9}); err == nil || p.Position() != 7 {
		t.Fatalf("a malformed event: %v, position %d; want an error and no move", err, p.Position())
	}
}

func mustSet(t *testing.T, ev eventstore.RecordedEvent) uuid.UUID {
	var e struct {
		SetID uuid.UUID `json:"set_id"`
	}
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		t.Fatal(err)
	}
	return e.SetID
}

// TestChallengesRetention checks that a Challenges told to retain challenges for an hour
// forgets, at its sweep, those decided or expired more than an hour before, and keeps the
// others; and that one without a retention keeps everything.
func TestChallengesRetention(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	account := uuid.New()
	issue := func(p *projections.Challenges, pos eventstore.Position, id uuid.UUID, at time.Time) {
		t.Helper()
		if err := p.Apply(recorded(t, pos, domain.ChallengeIssued{ChallengeID: id, AccountID: account, Number: 42, ExpiresAt: at.Add(2 * time.Minute), At: at})); err != nil {
			t.Fatal(err)
		}
	}
	approve := func(p *projections.Challenges, pos eventstore.Position, id uuid.UUID, at time.Time) {
		t.Helper()
		if err := p.Apply(recorded(t, pos, domain.ChallengeApproved{ChallengeID: id, AccountID: account, DeviceID: uuid.New(), Number: 42, Signature: make([]byte, 64), At: at})); err != nil {
			t.Fatal(err)
		}
	}
	for _, retain := range []time.Duration{time.Hour, 0} {
		p := projections.NewChallenges()
		p.RetainFor(retain)
		old, stale, recent := uuid.New(), uuid.New(), uuid.New()
		issue(p, 1, old, t0)
		approve(p, 2, old, t0.Add(time.Minute)) // decided 2 h before the sweep
		issue(p, 3, stale, t0)                  // expired at t0+2min, never marked
		later := t0.Add(2 * time.Hour)
		issue(p, 4, recent, later.Add(-90*time.Minute))
		approve(p, 5, recent, later.Add(-30*time.Minute)) // decided 30 min before the sweep
		for i := range 1021 {                             // the 1,024th issue sweeps
			issue(p, eventstore.Position(6+i), uuid.New(), later)
		}
		_, errOld := p.Get(old)
		_, errStale := p.Get(stale)
		_, errRecent := p.Get(recent)
		if retain == 0 {
			if errOld != nil || errStale != nil || errRecent != nil || p.Len() != 1024 {
				t.Fatalf("without a retention: %v %v %v, %d held; want all 1024", errOld, errStale, errRecent, p.Len())
			}
			continue
		}
		if !errors.Is(errOld, projections.ErrNotFound) || !errors.Is(errStale, projections.ErrNotFound) {
			t.Fatalf("challenges decided or expired 2 h before the sweep: %v, %v; want ErrNotFound", errOld, errStale)
		}
		if errRecent != nil || p.Len() != 1022 {
			t.Fatalf("after the sweep: recent %v, %d held; want it kept with the 1,021 open ones", errRecent, p.Len())
		}
	}
}
