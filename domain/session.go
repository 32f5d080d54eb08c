package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// SessionSeenEvery is how often at most a session's use is recorded (SessionSeen): "last seen"
// is coarse by this much, and a busy session adds at most one event per period to its own
// stream, never to the account's.
const SessionSeenEvery = 15 * time.Minute

// SessionStream is the stream of a signed-in session: "session-<hex SHA-256 of its ID>". The
// digest names the session as account.signed_out does; the ID itself never enters the log.
func SessionStream(digest []byte) string { return "session-" + hex.EncodeToString(digest) }

// SessionStarted: a session of the account began: a browser signed in, from IP with
// UserAgent, and holds a cookie until Expires. ChallengeID is the passed challenge the session
// was redeemed from (zero when the account has no second factor).
type SessionStarted struct {
	AccountID     uuid.UUID `json:"account_id" assent:"owner"`
	SessionDigest []byte    `json:"session_digest"`
	ChallengeID   uuid.UUID `json:"challenge_id,omitzero"`
	IP            string    `json:"ip,omitempty" assent:"personal"`
	UserAgent     string    `json:"user_agent,omitempty" assent:"personal"`
	Expires       time.Time `json:"expires"`
	At            time.Time `json:"at"`
}

// SessionSeen: the session was used at At. Recorded at most once per SessionSeenEvery.
type SessionSeen struct {
	AccountID     uuid.UUID `json:"account_id" assent:"owner"`
	SessionDigest []byte    `json:"session_digest"`
	IP            string    `json:"ip,omitempty" assent:"personal"`
	At            time.Time `json:"at"`
}

// SessionsEnded: every session of the account that began at or before At ended, except the
// one named by KeptDigest (the session that asked, if any). It follows a password change, or
// "sign out everywhere else". Until is when the last of them would have expired anyway: nodes
// remember the cut until then.
type SessionsEnded struct {
	AccountID  uuid.UUID `json:"account_id"`
	KeptDigest []byte    `json:"kept_digest,omitempty"`
	Until      time.Time `json:"until"`
	At         time.Time `json:"at"`
}

func (SessionStarted) EventType() string { return "session.started" }
func (SessionSeen) EventType() string    { return "session.seen" }
func (SessionsEnded) EventType() string  { return "account.sessions.ended" }

func (e SessionStarted) OccurredAt() time.Time { return e.At }
func (e SessionSeen) OccurredAt() time.Time    { return e.At }
func (e SessionsEnded) OccurredAt() time.Time  { return e.At }

// StartSession records a new session (see SessionStarted).
type StartSession struct {
	AccountID     uuid.UUID
	SessionDigest []byte
	ChallengeID   uuid.UUID
	IP            string
	UserAgent     string
	Expires       time.Time
}

// Session is a session's stream folded: who it belongs to, until when, and when it was last
// recorded as seen.
type Session struct {
	accountID uuid.UUID
	digest    []byte
	expires   time.Time
	lastSeen  time.Time
}

// LoadSession folds the events of a session stream, oldest first.
func LoadSession(events []Event) (*Session, error) {
	s := &Session{}
	for _, e := range events {
		switch e := e.(type) {
		case SessionStarted:
			s.accountID, s.digest, s.expires, s.lastSeen = e.AccountID, e.SessionDigest, e.Expires, e.At
		case SessionSeen:
			s.lastSeen = e.At
		default:
			return nil, fmt.Errorf("load session: %w: %q does not belong to a session stream", ErrMalformedEvent, e.EventType())
		}
	}
	return s, nil
}

// Exists reports whether the session was started.
func (s *Session) Exists() bool { return s.accountID != uuid.Nil }

// Start decides StartSession on a session stream that must be empty.
func (s *Session) Start(cmd StartSession, now time.Time) Decision {
	switch {
	case s.Exists():
		return refuse(fmt.Errorf("start session: %w: the session exists", ErrInvalidCommand))
	case cmd.AccountID == uuid.Nil:
		return refuse(fmt.Errorf("start session: %w: the account is required", ErrInvalidCommand))
	case len(cmd.SessionDigest) != sha256.Size:
		return refuse(fmt.Errorf("start session: %w: the session digest must be %d bytes", ErrInvalidCommand, sha256.Size))
	case !now.Before(cmd.Expires):
		return refuse(fmt.Errorf("start session: %w: the session expires before it starts", ErrInvalidCommand))
	}
	return accept(SessionStarted{
		AccountID: cmd.AccountID, SessionDigest: slices.Clone(cmd.SessionDigest), ChallengeID: cmd.ChallengeID,
		IP: cmd.IP, UserAgent: cmd.UserAgent, Expires: cmd.Expires, At: now,
	})
}

// See records a use of the session from ip, unless one was recorded less than
// SessionSeenEvery ago or the session has expired (then nothing is appended).
func (s *Session) See(ip string, now time.Time) Decision {
	switch {
	case !s.Exists():
		return refuse(ErrSessionNotFound)
	case !now.Before(s.expires), now.Sub(s.lastSeen) < SessionSeenEvery:
		return accept()
	}
	return accept(SessionSeen{AccountID: s.accountID, SessionDigest: slices.Clone(s.digest), IP: ip, At: now})
}

// EndSessions ends every session of the account begun until now, except Keep (see
// SessionsEnded).
type EndSessions struct {
	KeepDigest []byte    // the session to keep, or nil to end them all
	Until      time.Time // when the newest of them expires: now plus the session lifetime
}

// EndSessions decides EndSessions.
func (a *Account) EndSessions(cmd EndSessions, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case cmd.KeepDigest != nil && len(cmd.KeepDigest) != sha256.Size:
		return refuse(fmt.Errorf("end sessions: %w: the session digest must be %d bytes", ErrInvalidCommand, sha256.Size))
	case !now.Before(cmd.Until):
		return refuse(fmt.Errorf("end sessions: %w: until must be after now", ErrInvalidCommand))
	}
	return accept(SessionsEnded{AccountID: a.id, KeptDigest: slices.Clone(cmd.KeepDigest), Until: cmd.Until, At: now})
}
