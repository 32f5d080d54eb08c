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
