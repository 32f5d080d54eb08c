// Package websession signs and checks what a browser holds for Assent's pages and the OpenID
// provider: the session cookie, the CSRF token bound to a session, the login token of a
// pending sign-in and the short-lived stream ticket, each a MAC under a key derived from the
// keyring and named in the value, so that a key rotation leaves them valid until the key is
// retired.
package websession

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/secrets"
)

// SessionCookie is the name of the cookie that carries a signed-in session.
const SessionCookie = "assent_session"

// Session is a signed-in account.
type Session struct {
	AccountID uuid.UUID
	ID        [16]byte
	Expires   time.Time
	// Issued is when the session began, to the second (Check gives it).
	Issued time.Time
}

// Sessions issues and checks signed session cookies, CSRF tokens bound to a session, and the
// tokens that bind a pending sign-in to the browser that started it. Every node with the same
// keys accepts the same cookies. A sign-out is recorded in the log (account.signed_out), which
// every node folds into its SignOuts read model (see UseSignOuts); app.Service.SignOut returns
// once the serving node's read model has it.
//
// Each cookie and token names the key that signed it ("keyID:..."): new ones are signed with
// the primary key, and each is checked with the key it names, so that a key rotation leaves
// them valid until their key is retired.
type Sessions struct {
	primary  string
	keys     map[string][]byte
	ttl      time.Duration
	signOuts SignOuts    // set before serving; nil refuses no session
	cuts     SessionCuts // set before serving; nil ends no session by a cut
}

// SessionCuts tells whether an account ended its other sessions after a session began (a
// password change, "sign out everywhere else"): projections.Sessions.
type SessionCuts interface {
	Ended(account uuid.UUID, sessionID [16]byte, issued time.Time) bool
}

// UseSessionCuts makes Check refuse the sessions that c says were ended with the others. Call
// it before serving.
func (s *Sessions) UseSessionCuts(c SessionCuts) { s.cuts = c }

// TTL is how long a session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// SignOuts tells the sessions signed out on any node: projections.SignOuts.
type SignOuts interface {
	SignedOut(sessionID [16]byte) bool
}

// UseSignOuts makes Check refuse the sessions that so says were signed out. Call it before
// serving.
func (s *Sessions) UseSignOuts(so SignOuts) { s.signOuts = so }

// NewSessions returns Sessions signing with keys[0] (the keyring's primary, as
// secrets.Keyring.DeriveKeys orders them), checking with any of keys, and sessions lasting
// ttl. Each key must have at least 32 bytes and a key ID without ':'.
func NewSessions(keys []secrets.DerivedKey, ttl time.Duration) (*Sessions, error) {
	if len(keys) == 0 {
		return nil, errors.New("websession: sessions need at least one key")
	}
	s := &Sessions{primary: keys[0].ID, keys: make(map[string][]byte, len(keys)), ttl: ttl}
	for _, k := range keys {
		if len(k.Key) < 32 || k.ID == "" || strings.Contains(k.ID, ":") {
			return nil, fmt.Errorf("websession: session key %q must have at least 32 bytes and an ID without ':'", k.ID)
		}
		s.keys[k.ID] = append([]byte(nil), k.Key...)
	}
	return s, nil
}

// mac is the MAC of parts under the primary key.
func (s *Sessions) mac(parts ...[]byte) []byte { return macWith(s.keys[s.primary], parts...) }

// sign returns "primaryKeyID:MAC" of parts.
func (s *Sessions) sign(parts ...[]byte) string {
	return s.primary + ":" + b64.EncodeToString(s.mac(parts...))
}

// verify reports whether signed is a MAC of parts under the key it names. A value without a
// key ID was made before keys were named, by the primary key of the time: it is checked
// with the primary.
func (s *Sessions) verify(signed string, parts ...[]byte) bool {
	id, sig, named := strings.Cut(signed, ":")
	if !named {
		id, sig = s.primary, signed
	}
	key, ok := s.keys[id]
	if !ok {
		return false // a key this node does not hold: retired, or never ours
	}
	got, err := b64.DecodeString(sig)
	return err == nil && hmac.Equal(got, macWith(key, parts...))
}

func macWith(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
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
	value := s.primary + ":" + b64.EncodeToString(payload) + "." + b64.EncodeToString(s.mac([]byte("session"), payload))
	return sess, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure,
	}
}

// Check returns the session a cookie value carries, if it is genuine (signed by a key this
// node holds), unexpired, not signed out and not ended with the account's other sessions.
func (s *Sessions) Check(value string, now time.Time) (Session, bool) {
	id, value, named := strings.Cut(value, ":")
	if !named {
		id, value = s.primary, id
	}
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return Session{}, false
	}
	payload, err := b64.DecodeString(p)
	if err != nil || len(payload) != 40 || !s.verify(id+":"+sig, []byte("session"), payload) {
		return Session{}, false
	}
	var sess Session
	copy(sess.AccountID[:], payload[:16])
	copy(sess.ID[:], payload[16:32])
	sess.Expires = time.Unix(int64(binary.BigEndian.Uint64(payload[32:])), 0)
	sess.Issued = sess.Expires.Add(-s.ttl)
	if !now.Before(sess.Expires) {
		return Session{}, false
	}
	if s.signOuts != nil && s.signOuts.SignedOut(sess.ID) {
		return Session{}, false
	}
	// A cookie holds its expiry in whole seconds, so its start is known to the second, never
	// later than it was: a session begun in the second of a cut may be ended with the others.
	if s.cuts != nil && s.cuts.Ended(sess.AccountID, sess.ID, sess.Expires.Add(-s.ttl)) {
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
func (s *Sessions) CSRFToken(sess Session) string { return s.sign([]byte("csrf"), sess.ID[:]) }

// CheckCSRF reports whether token is the session's CSRF token.
func (s *Sessions) CheckCSRF(sess Session, token string) bool {
	return s.verify(token, []byte("csrf"), sess.ID[:])
}

// LoginToken is the secret that binds a pending sign-in to the browser that started it: only
// its holder may await the challenge's outcome and exchange it for a session.
func (s *Sessions) LoginToken(challenge uuid.UUID) string {
	return s.sign([]byte("login"), challenge[:])
}

// CheckLoginToken reports whether token is the login token of challenge.
func (s *Sessions) CheckLoginToken(challenge uuid.UUID, token string) bool {
	return s.verify(token, []byte("login"), challenge[:])
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
// its result, and short-lived. It is the expiry and the MAC of ("stream-ticket", challenge,
// expiry) under the primary session key, naming that key like every other token.
func (s *Sessions) StreamTicket(challenge uuid.UUID, now time.Time) (string, time.Time) {
	exp := now.Add(StreamTicketTTL).Truncate(time.Second)
	payload := binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))
	return b64.EncodeToString(payload) + "." + s.sign([]byte("stream-ticket"), challenge[:], payload), exp
}

// CheckStreamTicket returns nil when ticket is a stream ticket of challenge that has not
// expired at now, else ErrTicketInvalid or ErrTicketExpired.
func (s *Sessions) CheckStreamTicket(challenge uuid.UUID, ticket string, now time.Time) error {
	p, sig, ok := strings.Cut(ticket, ".")
	if !ok {
		return ErrTicketInvalid
	}
	payload, err := b64.DecodeString(p)
	if err != nil || len(payload) != 8 || !s.verify(sig, []byte("stream-ticket"), challenge[:], payload) {
		return ErrTicketInvalid
	}
	if !now.Before(time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)) {
		return ErrTicketExpired
	}
	return nil
}
