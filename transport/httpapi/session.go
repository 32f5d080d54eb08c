package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SessionCookie is the name of the cookie that carries a signed-in session.
const SessionCookie = "assent_session"

// Session is a signed-in account.
type Session struct {
	AccountID uuid.UUID
	ID        [16]byte
	Expires   time.Time
}

// Sessions issues and checks signed session cookies, CSRF tokens bound to a session, and the
// tokens that bind a pending sign-in to the browser that started it. Every node with the same
// key accepts the same cookies. A sign-out is recorded in the log (account.signed_out), which
// every node folds into its SignOuts read model (see UseSignOuts); app.Service.SignOut returns
// once the serving node's read model has it.
type Sessions struct {
	key      []byte
	ttl      time.Duration
	signOuts SignOuts // set before serving; nil refuses no session
}

// SignOuts tells the sessions signed out on any node: projections.SignOuts.
type SignOuts interface {
	SignedOut(sessionID [16]byte) bool
}

// UseSignOuts makes Check refuse the sessions that so says were signed out. Call it before
// serving.
func (s *Sessions) UseSignOuts(so SignOuts) { s.signOuts = so }

// NewSessions returns Sessions signing with key (at least 32 bytes) and sessions lasting ttl.
func NewSessions(key []byte, ttl time.Duration) (*Sessions, error) {
	if len(key) < 32 {
		return nil, errors.New("httpapi: the session key must be at least 32 bytes")
	}
	return &Sessions{key: append([]byte(nil), key...), ttl: ttl}, nil
}

func (s *Sessions) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// Issue returns a new session for account and its cookie.
func (s *Sessions) Issue(account uuid.UUID, now time.Time, secure bool) (Session, *http.Cookie) {
	sess := Session{AccountID: account, Expires: now.Add(s.ttl).Truncate(time.Second)}
	_, _ = rand.Read(sess.ID[:])
	payload := make([]byte, 0, 40)
	payload = append(payload, account[:]...)
	payload = append(payload, sess.ID[:]...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(sess.Expires.Unix()))
	value := b64.EncodeToString(payload) + "." + b64.EncodeToString(s.mac([]byte("session"), payload))
	return sess, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure,
	}
}

// Check returns the session a cookie value carries, if it is genuine, unexpired and not
// signed out.
func (s *Sessions) Check(value string, now time.Time) (Session, bool) {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return Session{}, false
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != 40 || !hmac.Equal(mac, s.mac([]byte("session"), payload)) {
		return Session{}, false
	}
	var sess Session
	copy(sess.AccountID[:], payload[:16])
	copy(sess.ID[:], payload[16:32])
	sess.Expires = time.Unix(int64(binary.BigEndian.Uint64(payload[32:])), 0)
	if !now.Before(sess.Expires) {
		return Session{}, false
	}
	if s.signOuts != nil && s.signOuts.SignedOut(sess.ID) {
		return Session{}, false
	}
	return sess, true
}

// Clear returns a cookie that deletes the session cookie.
func (s *Sessions) Clear(secure bool) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
}

// CSRFToken is the token a page sends back in the X-CSRF-Token header with every
// state-changing request of this session.
func (s *Sessions) CSRFToken(sess Session) string {
	return b64.EncodeToString(s.mac([]byte("csrf"), sess.ID[:]))
}

// CheckCSRF reports whether token is the session's CSRF token.
func (s *Sessions) CheckCSRF(sess Session, token string) bool {
	got, err := b64.DecodeString(token)
	return err == nil && hmac.Equal(got, s.mac([]byte("csrf"), sess.ID[:]))
}

// LoginToken is the secret that binds a pending sign-in to the browser that started it: only
// its holder may await the challenge's outcome and exchange it for a session.
func (s *Sessions) LoginToken(challenge uuid.UUID) string {
	return b64.EncodeToString(s.mac([]byte("login"), challenge[:]))
}

// CheckLoginToken reports whether token is the login token of challenge.
func (s *Sessions) CheckLoginToken(challenge uuid.UUID, token string) bool {
	got, err := b64.DecodeString(token)
	return err == nil && hmac.Equal(got, s.mac([]byte("login"), challenge[:]))
}

// StreamTicketTTL is how long a stream ticket opens a login-result stream.
const StreamTicketTTL = 60 * time.Second

// Stream ticket refusals.
var (
	// ErrTicketInvalid: the ticket is malformed, forged or another challenge's.
	ErrTicketInvalid = errors.New("stream ticket invalid")
	// ErrTicketExpired: the ticket is genuine but its minute is over.
	ErrTicketExpired = errors.New("stream ticket expired")
)

// StreamTicket returns a ticket that opens the result streams of challenge (long-poll, SSE,
// WebSocket) until now+StreamTicketTTL, and that expiry. It stands in for the login token in
// URLs, which proxies and browsers log: it is bound to one challenge, good only for awaiting
// its result, and short-lived. It is HMAC(session key, "stream-ticket", challenge, expiry).
func (s *Sessions) StreamTicket(challenge uuid.UUID, now time.Time) (string, time.Time) {
	exp := now.Add(StreamTicketTTL).Truncate(time.Second)
	payload := binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(s.mac([]byte("stream-ticket"), challenge[:], payload)), exp
}

// CheckStreamTicket returns nil when ticket is a stream ticket of challenge that has not
// expired at now, else ErrTicketInvalid or ErrTicketExpired.
func (s *Sessions) CheckStreamTicket(challenge uuid.UUID, ticket string, now time.Time) error {
	p, sig, ok := strings.Cut(ticket, ".")
	if !ok {
		return ErrTicketInvalid
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != 8 || !hmac.Equal(mac, s.mac([]byte("stream-ticket"), challenge[:], payload)) {
		return ErrTicketInvalid
	}
	if !now.Before(time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)) {
		return ErrTicketExpired
	}
	return nil
}
