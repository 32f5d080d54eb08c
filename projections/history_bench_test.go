package projections_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// BenchmarkHistoryRead reads a full history (HistoryLimit approved pushes) from the memory
// store, with and without verifying each answer's signature: what the check on each read
// costs a page of the history.
func BenchmarkHistoryRead(b *testing.B) {
	p := projections.NewHistory()
	account, device := uuid.New(), uuid.New()
	pub, key, _ := ed25519.GenerateKey(nil)
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	pos := eventstore.Position(0)
	apply := func(e domain.Event) {
		pos++
		if err := p.Apply(recordedB(b, pos, e)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range projections.HistoryLimit {
		id, at := uuid.New(), t0.Add(time.Duration(i)*time.Minute)
		lc := domain.LoginContext{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", IP: "192.0.2.7", At: at}
		d := lc.Digest()
		apply(domain.ChallengeIssued{ChallengeID: id, AccountID: account, Number: 42, Context: lc, ContextDigest: d[:],
			Devices: []domain.ChallengeDevice{{DeviceID: device, PublicKey: pub}}, ExpiresAt: at.Add(time.Minute), At: at})
		apply(domain.ChallengeApproved{ChallengeID: id, AccountID: account, DeviceID: device, Number: 42,
			Signature: ed25519.Sign(key, domain.SignedAnswerPayload(id, domain.AnswerApprove, 42, d[:])), At: at.Add(time.Second)})
	}
	for _, verify := range []bool{false, true} {
		name := "rows"
		if verify {
			name = "rows+verify"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				list, _, err := p.ForAccount(account)
				if err != nil || len(list) != projections.HistoryLimit {
					b.Fatalf("%d entries, %v", len(list), err)
				}
				if verify {
					for _, e := range list {
						if e.Check() != domain.SignatureVerified {
							b.Fatal("an entry does not verify")
						}
					}
				}
			}
		})
	}
}

func recordedB(b *testing.B, pos eventstore.Position, e domain.Event) eventstore.RecordedEvent {
	typ, ver, data, err := domain.Encode(e)
	if err != nil {
		b.Fatal(err)
	}
	return eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, Position: pos}
}
