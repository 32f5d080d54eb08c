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
