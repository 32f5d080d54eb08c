package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
)

// Reader answers auditors' questions over a log. Safe for concurrent use.
type Reader struct {
	log   Log
	index *Index
}

// NewReader returns a Reader over log whose account index is kept in db.
func NewReader(log Log, db *localdb.DB) *Reader { return &Reader{log: log, index: NewIndex(db)} }

// Index is the reader's account index.
func (r *Reader) Index() *Index { return r.index }

// Replay returns the events of one stream, in order, as auditors see them.
func (r *Reader) Replay(ctx context.Context, stream string) ([]EventView, error) {
	evs, err := r.log.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		return nil, fmt.Errorf("audit replay %q: %w", stream, err)
	}
	return Views(evs), nil
}

// Log returns up to limit events of the global log after the position, as auditors see them.
func (r *Reader) Log(ctx context.Context, after eventstore.Position, limit int) ([]EventView, error) {
	evs, err := r.log.ReadAll(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return Views(evs), nil
}

// accountEvents returns the events of every stream of the account's history, merged in global
// order, up to and including position upTo (0: all).
func (r *Reader) accountEvents(ctx context.Context, account uuid.UUID, bound eventstore.Position) ([]eventstore.RecordedEvent, error) {
	upTo := upTo(bound)
	if err := r.index.CatchUp(ctx, r.log); err != nil {
		return nil, err
	}
	streams, err := r.index.Streams(ctx, account)
	if err != nil {
		return nil, err
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("audit: %w: %s", domain.ErrAccountNotFound, account)
	}
	if m, ok := r.log.(eventstore.MultiStreamReader); ok {
		all, err := m.ReadStreams(ctx, streams)
		if err != nil {
			return nil, fmt.Errorf("audit: read the account's streams: %w", err)
		}
		return upTo.cut(all), nil
	}
	var all []eventstore.RecordedEvent
	for _, s := range streams {
		evs, err := r.log.ReadStream(ctx, s, eventstore.ReadStreamOptions{})
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit: read %q: %w", s, err)
		}
		all = append(all, evs...)
	}
	slices.SortFunc(all, func(a, b eventstore.RecordedEvent) int { return cmp.Compare(a.Position, b.Position) })
	return upTo.cut(all), nil
}

// upTo bounds a merged history by position; 0 keeps it all.
type upTo eventstore.Position

func (u upTo) cut(all []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	if u == 0 {
		return all
	}
	n, _ := slices.BinarySearchFunc(all, eventstore.Position(u)+1, func(e eventstore.RecordedEvent, p eventstore.Position) int { return cmp.Compare(e.Position, p) })
	return all[:n]
}

// Timeline is an account's history: its own stream, its devices, its enrollments and its
// challenges, merged in global order, each event with a one-line summary.
func (r *Reader) Timeline(ctx context.Context, account uuid.UUID) ([]EventView, error) {
	evs, err := r.accountEvents(ctx, account, 0)
	if err != nil {
		return nil, err
	}
	return Views(evs), nil
}

// Bound is a moment of history: a position of the log, or a time (events recorded at or before
// it). With both, the earlier wins.
type Bound struct {
	Position eventstore.Position
	Time     time.Time
}

// AccountState is an account as the read models saw it at a bound.
type AccountState struct {
	AccountID uuid.UUID `json:"account_id"`
	// Position is the last event of the account's history at or before the bound.
	Position   uint64                        `json:"position"`
	RecordedAt time.Time                     `json:"recorded_at,omitzero"`
	Account    projections.AccountView       `json:"account"`
	Devices    []projections.DeviceView      `json:"devices"`
	Challenges []projections.ChallengeStatus `json:"challenges"`
}

// StateAt rebuilds the account as it was at the bound by folding its history, up to the bound,
// into a fresh projections.Set: the code that serves live traffic. The read models fold each
// event on its own content, so the account's own streams are enough to rebuild its state.
func (r *Reader) StateAt(ctx context.Context, account uuid.UUID, b Bound) (AccountState, error) {
	if b.Position == 0 && b.Time.IsZero() {
		return AccountState{}, ErrBadBound
	}
	evs, err := r.accountEvents(ctx, account, b.Position)
	if err != nil {
		return AccountState{}, err
	}
	set := projections.NewSet()
	st := AccountState{AccountID: account, Devices: []projections.DeviceView{}, Challenges: []projections.ChallengeStatus{}}
	for _, ev := range evs {
		if !b.Time.IsZero() && ev.Metadata.RecordedAt.After(b.Time) {
			break
		}
		if err := set.Apply(ev); err != nil {
			return st, fmt.Errorf("audit state-at: %w", err)
		}
		st.Position, st.RecordedAt = uint64(ev.Position), ev.Metadata.RecordedAt
	}
	view, err := set.Accounts.Get(account)
	if err != nil {
		return st, fmt.Errorf("audit state-at: the account did not exist yet at that moment: %w", domain.ErrAccountNotFound)
	}
	st.Account = view
	for _, d := range view.Devices {
		if dv, err := set.Devices.Get(d.DeviceID); err == nil {
			st.Devices = append(st.Devices, dv)
		}
	}
	for _, c := range set.Challenges.All() {
		if c.AccountID == account {
			st.Challenges = append(st.Challenges, c)
		}
	}
	return st, nil
}
