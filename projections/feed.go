package projections

import (
	"sync"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// ChangeKind says what a Change announces.
type ChangeKind struct{ slug string }

// Change kinds.
var (
	// ChangeChallengeIssued: a challenge was issued; DeviceIDs are the devices it was pushed to
	// (none when pushes are muted).
	ChangeChallengeIssued = ChangeKind{"challenge_issued"}
	// ChangeChallengeDelivered: DeviceIDs[0] acknowledged the challenge.
	ChangeChallengeDelivered = ChangeKind{"challenge_delivered"}
	// ChangeChallengeDecided: the challenge reached State; DeviceIDs are the devices still
	// showing it, to be told to dismiss it.
	ChangeChallengeDecided = ChangeKind{"challenge_decided"}
	// ChangeDeviceLinked: DeviceIDs[0] was linked to AccountID.
	ChangeDeviceLinked = ChangeKind{"device_linked"}
	// ChangeDeviceUnlinked: DeviceIDs[0] was unlinked from AccountID: close its session for
	// that account.
	ChangeDeviceUnlinked = ChangeKind{"device_unlinked"}
)

func (k ChangeKind) String() string { return k.slug }

// Change is one piece of news for the push hubs and the security page. It is published after
// the Pending projection applied the event at Position, so a query of Pending made after
// receiving it sees it.
type Change struct {
	Kind        ChangeKind
	Position    eventstore.Position
	AccountID   uuid.UUID
	ChallengeID uuid.UUID // challenge kinds only
	DeviceIDs   []uuid.UUID
	// Pending is the challenge as a device sees it (no number); ChangeChallengeIssued only.
	Pending *PendingChallenge
	// State is the outcome; ChangeChallengeDecided only.
	State ChallengeState
}

// Feed fans Changes out to subscribers. Publishing never blocks: a subscriber whose buffer is
// full is dropped (its channel is closed and Lagged reports true); it must resubscribe and
// resynchronize from the read models, as on a reconnect.
type Feed struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription receives Changes on C until Close, or until it lags and C is closed.
type Subscription struct {
	// C delivers the changes, in log order.
	C      <-chan Change
	c      chan Change
	feed   *Feed
	lagged bool
}

// Subscribe returns a subscription with room for buffer changes (at least 1).
func (f *Feed) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	c := make(chan Change, buffer)
	s := &Subscription{C: c, c: c, feed: f}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s
}

// Close ends the subscription and closes C. It is safe to call more than once.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	if _, ok := s.feed.subs[s]; ok {
		delete(s.feed.subs, s)
		close(s.c)
	}
}

// Lagged reports whether the subscription was dropped because its buffer was full.
func (s *Subscription) Lagged() bool {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.lagged
}

func (f *Feed) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		for _, ch := range changes {
			select {
			case s.c <- ch:
				continue
			default:
			}
			s.lagged = true
			delete(f.subs, s)
			close(s.c)
			break
		}
	}
}
