package app

import (
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

// BenchmarkLoginDomainPath measures a full login's domain path without the password check:
// a challenge issued (account and challenge streams), delivered and approved with a signed
// answer, each appended durably to the SQLite store. The previous login's challenge is
// superseded and cancelled, as in real use.
func BenchmarkLoginDomainPath(b *testing.B) {
	f := newFixture(b, domain.Policy{})
	id := f.account("bench@example.com")
	phone := newDevice(b)
	f.enroll(id, phone)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		ch := f.challenge(id)
		if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
			b.Fatal(err)
		}
		if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/login")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
}

// BenchmarkStartSession measures what recording a session adds to a sign-in: one durable
// append of session.started to the session's own stream, and the wait for this node's read
// models to have it.
func BenchmarkStartSession(b *testing.B) {
	f := newFixture(b, domain.Policy{})
	id := f.account("sessions@example.com")
	n := 0
	for b.Loop() {
		n++
		d := make([]byte, 32)
		d[0], d[1], d[2] = byte(n), byte(n>>8), byte(n>>16)
		err := f.s.StartSession(f.ctx, domain.StartSession{AccountID: id, SessionDigest: d, IP: "192.0.2.1", UserAgent: "Firefox", Expires: f.clock.Now().Add(12 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeeSession measures the cost every signed-in request pays for "last seen" when
// nothing is due: a lookup in the sessions read model (the app fixture keeps it in memory).
func BenchmarkSeeSession(b *testing.B) {
	f := newFixture(b, domain.Policy{})
	id := f.account("seen@example.com")
	sess := f.startSession(id, 1)
	for b.Loop() {
		if err := f.s.SeeSession(f.ctx, id, sess, "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStanding measures what every request a session authenticates now costs the server:
// the account's standing (disabled, sessions ended, notices), from the stream cache, on an
// account with 200 sign-ins in its stream. The stream's head is known to the SQLite store and
// the cache holds the folded account, so nothing is read or folded.
func BenchmarkStanding(b *testing.B) {
	f := newFixture(b, domain.Policy{})
	id := f.account("standing@example.com")
	f.enroll(id, newDevice(b))
	for range 200 {
		f.challenge(id)
	}
	if _, err := f.s.Standing(f.ctx, id); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.s.Standing(f.ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
