package httpapi

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// signedOut is a SignOuts that names its sessions.
type signedOut map[[16]byte]bool

func (so signedOut) SignedOut(id [16]byte) bool { return so[id] }

func TestSessionsIssueCheckRevoke(t *testing.T) {
	t.Parallel()
	s, err := NewSessions(bytes.Repeat([]byte{7}, 32), time.Hour)
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
	other, _ := NewSessions(bytes.Repeat([]byte{8}, 32), time.Hour)
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

func TestStreamTickets(t *testing.T) {
	t.Parallel()
	s, err := NewSessions(bytes.Repeat([]byte{7}, 32), time.Hour)
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
	other, _ := NewSessions(bytes.Repeat([]byte{8}, 32), time.Hour)
	if err := other.CheckStreamTicket(ch, ticket, now); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a ticket signed with another key: %v, want ErrTicketInvalid", err)
	}
}
