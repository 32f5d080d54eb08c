package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
)

// Set is the server's read models. Build it with NewSet.
type Set struct {
	Accounts   *Accounts
	Devices    *Devices
	Pending    *Pending
	Challenges *Challenges
	SignOuts   *SignOuts
	Sessions   *Sessions
}

// NewSet returns empty read models.
func NewSet() *Set {
	return &Set{Accounts: NewAccounts(), Devices: NewDevices(), Pending: NewPending(), Challenges: NewChallenges(), SignOuts: NewSignOuts(), Sessions: NewSessions()}
}

// All returns the projections of the set.
func (s *Set) All() []Projection {
	return []Projection{s.Accounts, s.Devices, s.Pending, s.Challenges, s.SignOuts, s.Sessions}
}

// Position is the lowest position of the set's projections: every one has applied the log up
// to it.
func (s *Set) Position() eventstore.Position {
	all := s.All()
	low := all[0].Position()
	for _, p := range all[1:] {
		low = min(low, p.Position())
	}
	return low
}

// WaitFor blocks until every projection of the set has reached pos, or ctx is done.
func (s *Set) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for _, p := range s.All() {
		if err := p.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	return nil
}

// Apply folds ev into every projection of the set.
func (s *Set) Apply(ev eventstore.RecordedEvent) error {
	var errs []error
	for _, p := range s.All() {
		errs = append(errs, p.Apply(ev))
	}
	return errors.Join(errs...)
}

// LogReader reads the global log; every eventstore.Store is one.
type LogReader interface {
	ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
}

// RebuildStats reports a rebuild or a catch-up.
type RebuildStats struct {
	Events     int                 // events read from the log
	Position   eventstore.Position // position reached
	Accounts   int
	Devices    int
	Pending    int // open challenges
	Challenges int
	SignOuts   int // sessions signed out that have not expired yet
	Took       time.Duration
}

// readPage is the number of events read at once by CatchUp.
const readPage = 1000

// Rebuild empties every projection of the set and folds the log again from position zero, up
// to the end of the log as it is when the reads reach it.
func (s *Set) Rebuild(ctx context.Context, log LogReader) (RebuildStats, error) {
	for _, p := range s.All() {
		p.Reset()
	}
	return s.CatchUp(ctx, log)
}

// CatchUp folds the log from the set's Position to its end: at start-up, it brings in-memory
// projections up to date faster than a router delivering one message at a time. Events a
// projection has already applied are skipped.
func (s *Set) CatchUp(ctx context.Context, log LogReader) (RebuildStats, error) {
	start := time.Now()
	st := RebuildStats{Position: s.Position()}
	for {
		page, err := log.ReadAll(ctx, st.Position, readPage)
		if err != nil {
			return st, fmt.Errorf("projections catch up after %d: %w", st.Position, err)
		}
		for _, ev := range page {
			if err := s.Apply(ev); err != nil {
				return st, err
			}
			st.Position = ev.Position
		}
		st.Events += len(page)
		if len(page) < readPage {
			break
		}
	}
	st.Accounts, st.Devices, st.Pending, st.Challenges = s.Accounts.Len(), s.Devices.Len(), s.Pending.Len(), s.Challenges.Len()
	st.SignOuts = s.SignOuts.Len()
	st.Took = time.Since(start)
	return st, nil
}

// LoadCheckpoint returns the position of the projection named name: in-memory projections are
// their own checkpoints, so a router resumes where the model is, not where a previous process
// was. It makes Set a bridge.Checkpoints.
func (s *Set) LoadCheckpoint(_ context.Context, name string) (eventstore.Position, error) {
	if name == SetConsumer {
		return s.Position(), nil
	}
	p, err := s.byName(name)
	if err != nil {
		return 0, err
	}
	return p.Position(), nil
}

// SaveCheckpoint does nothing: the position moves when an event is applied. It knows the same
// names as LoadCheckpoint: the whole set (SetConsumer) and each projection.
func (s *Set) SaveCheckpoint(_ context.Context, name string, _ eventstore.Position) error {
	if name == SetConsumer {
		return nil
	}
	_, err := s.byName(name)
	return err
}

var _ bridge.Checkpoints = (*Set)(nil)

func (s *Set) byName(name string) (Projection, error) {
	for _, p := range s.All() {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("projections: %w: no projection named %q", ErrNotFound, name)
}

// SetConsumer is the consumer name under which NewRouter feeds the whole set.
const SetConsumer = "projections"

// NewRouter returns a watermill Router that feeds every projection of s from store through a
// bridge.Subscriber, with the Recoverer and Retry middleware. One handler applies each event to
// the whole set (each projection skips what it has already applied, so the set resumes from
// its lowest position): one read of the log per event instead of one per projection. The
// caller runs it (Run) and closes it (Close).
func NewRouter(s *Set, store eventstore.Store, logger watermill.LoggerAdapter) (*message.Router, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, fmt.Errorf("projections router: %w", err)
	}
	r.AddMiddleware(
		middleware.Retry{MaxRetries: 3, InitialInterval: 10 * time.Millisecond, Logger: logger}.Middleware,
		middleware.Recoverer,
	)
	sub := bridge.NewSubscriber(store, s, bridge.Config{Logger: logger})
	r.AddConsumerHandler(SetConsumer, SetConsumer, sub, func(msg *message.Message) error {
		ev, err := bridge.Event(msg)
		if err != nil {
			return err
		}
		return s.Apply(ev)
	})
	return r, nil
}
