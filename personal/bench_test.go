package personal_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/secrets"
)

// BenchmarkCodec measures what sealing adds to an event with personal fields (a challenge
// with its login context) and to one without (a delivery), on top of the domain's encoding
// and decoding, with the owner's key cached as it is on a running node.
func BenchmarkCodec(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	kr, _ := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	codec := personal.NewCodec(personal.NewKeys(st, kr))
	account := uuid.New()
	now := time.Now().UTC()
	for _, e := range []domain.Event{
		domain.ChallengeIssued{ChallengeID: uuid.New(), AccountID: account, Number: 42, ContextDigest: make([]byte, 32),
			Context:   domain.LoginContext{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", IP: "203.0.113.7", Place: "Lyon, FR", At: now},
			Devices:   []domain.ChallengeDevice{{DeviceID: uuid.New(), PublicKey: make([]byte, 32)}},
			ExpiresAt: now, At: now},
		domain.ChallengeDelivered{ChallengeID: uuid.New(), DeviceID: uuid.New(), At: now},
	} {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		ev := eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data}
		sealed, err := codec.Seal(ctx, ev)
		if err != nil {
			b.Fatal(err)
		}
		rec := eventstore.RecordedEvent{ID: ev.ID, Type: typ, SchemaVersion: ver, Data: sealed.Data}
		b.Run(typ+"/encode", func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := domain.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/encode+seal", func(b *testing.B) {
			for b.Loop() {
				_, _, raw, _ := domain.Encode(e)
				if _, err := codec.Seal(ctx, eventstore.EventData{ID: ev.ID, Type: typ, SchemaVersion: ver, Data: raw}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/decode", func(b *testing.B) {
			for b.Loop() {
				if _, err := domain.Decode(typ, ver, data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/open+decode", func(b *testing.B) {
			for b.Loop() {
				opened, err := codec.Open(ctx, &rec)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := domain.Decode(typ, ver, opened); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
