package websession

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/secrets"
)

// sessionKeys returns keys named id, id2, ... filled with fill, fill+1, ...
func sessionKeys(id string, fill ...byte) []secrets.DerivedKey {
	var out []secrets.DerivedKey
	for i, f := range fill {
		name := id
		if i > 0 {
			name = fmt.Sprintf("%s-%d", id, i)
		}
		out = append(out, secrets.DerivedKey{ID: name, Key: bytes.Repeat([]byte{f}, 32)})
	}
	return out
}

// signedOut is a SignOuts that names its sessions.
type signedOut map[[16]byte]bool

func (so signedOut) SignedOut(id [16]byte) bool { return so[id] }

func TestSessionsIssueCheckRevoke(t *testing.T) {
	t.Parallel()
	s, err := NewSessions(sessionKeys("k7", 7), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	acct := uuid.New()
	sess, cookie := s.Issue(acct, now, true)
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != 2 /* Lax */ {
		t.Fatalf("cookie flags: %+v", cookie)
	}
	got, ok := s.Check(cookie.Value, now.Add(time.Minute))
	if !ok || got.AccountID != acct || got.ID != sess.ID {
		t.Fatalf("a fresh cookie does not check: %+v %v", got, ok)
	}
	if _, ok := s.Check(cookie.Value, now.Add(2*time.Hour)); ok {
		t.Fatal("an expired cookie checks")
	}
	tampered := []byte(cookie.Value)
	tampered[3] ^= 1
	if _, ok := s.Check(string(tampered), now); ok {
		t.Fatal("a tampered cookie checks")
	}
	other, _ := NewSessions(sessionKeys("k7", 8), time.Hour)
	if _, ok := other.Check(cookie.Value, now); ok {
		t.Fatal("a cookie signed with another key checks")
	}
	if !s.CheckCSRF(sess, s.CSRFToken(sess)) {
		t.Fatal("the session's CSRF token does not check")
	}
	sess2, s2cookie := s.Issue(acct, now, false)
	if s.CheckCSRF(sess2, s.CSRFToken(sess)) {
		t.Fatal("one session's CSRF token checks for another")
	}
	s.UseSignOuts(signedOut{sess.ID: true})
	if _, ok := s.Check(cookie.Value, now); ok {
		t.Fatal("a signed-out session checks")
	}
	if _, ok := s.Check(s2cookie.Value, now); !ok {
		t.Fatal("another session of the account stopped checking when one was signed out")
	}
	ch := uuid.New()
	if !s.CheckLoginToken(ch, s.LoginToken(ch)) || s.CheckLoginToken(uuid.New(), s.LoginToken(ch)) {
		t.Fatal("login tokens do not bind to their challenge")
	}
}

// TestSessionsSurviveRotationUntilTheKeyIsRetired rotates the session keys as an operator
// does: a new primary first, the old key after it. Everything the old key signed keeps
// checking and names its key; new artefacts use the new primary; once the old key leaves,
// what it signed is refused.
func TestSessionsSurviveRotationUntilTheKeyIsRetired(t *testing.T) {
	t.Parallel()
	oldKey := secrets.DerivedKey{ID: "old", Key: bytes.Repeat([]byte{1}, 32)}
	newKey := secrets.DerivedKey{ID: "new", Key: bytes.Repeat([]byte{2}, 32)}
	before, _ := NewSessions([]secrets.DerivedKey{oldKey}, time.Hour)
	rotated, _ := NewSessions([]secrets.DerivedKey{newKey, oldKey}, time.Hour)
	retired, _ := NewSessions([]secrets.DerivedKey{newKey}, time.Hour)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	acct, ch := uuid.New(), uuid.New()

	sess, cookie := before.Issue(acct, now, false)
	csrf, login := before.CSRFToken(sess), before.LoginToken(ch)
	for what, v := range map[string]string{"cookie": cookie.Value, "CSRF token": csrf, "login token": login} {
		if !strings.HasPrefix(v, "old:") {
			t.Fatalf("the %s %q does not name the key that signed it", what, v)
		}
	}
	if got, ok := rotated.Check(cookie.Value, now); !ok || got.ID != sess.ID {
		t.Fatal("after a rotation, a session the old key signed no longer checks")
	}
	if !rotated.CheckCSRF(sess, csrf) || !rotated.CheckLoginToken(ch, login) {
		t.Fatal("after a rotation, a CSRF or login token the old key signed no longer checks")
	}
	sess2, cookie2 := rotated.Issue(acct, now, false)
	if !strings.HasPrefix(cookie2.Value, "new:") || !strings.HasPrefix(rotated.CSRFToken(sess2), "new:") || !strings.HasPrefix(rotated.LoginToken(ch), "new:") {
		t.Fatal("after a rotation, new cookies and tokens are not signed with the new primary")
	}
	if !rotated.CheckCSRF(sess, rotated.CSRFToken(sess)) {
		t.Fatal("a new CSRF token for an old session does not check")
	}
	if _, ok := retired.Check(cookie.Value, now); ok {
		t.Fatal("a session signed by a retired key checks")
	}
	if retired.CheckCSRF(sess, csrf) || retired.CheckLoginToken(ch, login) {
		t.Fatal("a token signed by a retired key checks")
	}
	if _, ok := retired.Check(cookie2.Value, now); !ok {
		t.Fatal("a session signed by the new primary does not check once the old key is retired")
	}
	// A value that names the other key must be checked with that key: moving the MAC to
	// another key ID does not help.
	moved := "new:" + strings.TrimPrefix(cookie.Value, "old:")
	if _, ok := rotated.Check(moved, now); ok {
		t.Fatal("a cookie whose key ID was changed checks")
	}
	// Values made before keys were named carry no key ID; the primary made them.
	legacy := strings.TrimPrefix(cookie.Value, "old:")
	if _, ok := before.Check(legacy, now); !ok {
		t.Fatal("a cookie without a key ID, made by the primary, does not check")
	}
	if _, ok := rotated.Check(legacy, now); ok {
		t.Fatal("a cookie without a key ID checks with a key other than the primary")
	}
}

func TestStreamTickets(t *testing.T) {
	t.Parallel()
	s, err := NewSessions([]secrets.DerivedKey{{ID: "k7", Key: bytes.Repeat([]byte{7}, 32)}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ch := uuid.New()
	ticket, exp := s.StreamTicket(ch, now)
	if !exp.Equal(now.Add(StreamTicketTTL)) {
		t.Fatalf("ticket expires at %v, want %v", exp, now.Add(StreamTicketTTL))
	}
	if err := s.CheckStreamTicket(ch, ticket, now.Add(StreamTicketTTL-time.Second)); err != nil {
		t.Fatalf("a fresh ticket: %v", err)
	}
	if err := s.CheckStreamTicket(ch, ticket, exp); !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("a ticket at its expiry: %v, want ErrTicketExpired", err)
	}
	if err := s.CheckStreamTicket(uuid.New(), ticket, now); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a ticket of another challenge: %v, want ErrTicketInvalid", err)
	}
	if err := s.CheckStreamTicket(ch, s.LoginToken(ch), now); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("the login token as a ticket: %v, want ErrTicketInvalid", err)
	}
	if s.CheckLoginToken(ch, ticket) {
		t.Fatal("a ticket checks as the login token")
	}
	// A ticket whose expiry was moved forward no longer carries its signature.
	later, _ := s.StreamTicket(ch, now.Add(time.Hour))
	forged := later[:strings.IndexByte(later, '.')] + ticket[strings.IndexByte(ticket, '.'):]
	if err := s.CheckStreamTicket(ch, forged, now); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a ticket with a moved expiry: %v, want ErrTicketInvalid", err)
	}
	other, _ := NewSessions([]secrets.DerivedKey{{ID: "k8", Key: bytes.Repeat([]byte{8}, 32)}}, time.Hour)
	if err := other.CheckStreamTicket(ch, ticket, now); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a ticket signed with another key: %v, want ErrTicketInvalid", err)
	}
}
