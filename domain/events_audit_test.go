package domain_test

import (
	"slices"
	"testing"

	"github.com/assent-dev/assent/domain"
)

// The audit trail's events join the samples of TestEveryRegisteredTypeRoundTrips, and so the
// tests over every registered type (secrets in the clear, personal fields, decoding).
func init() {
	samples = append(samples,
		domain.AuditReadRecorded{Auditor: "alice", Operation: "timeline", Target: accountID.String(), At: t0},
		domain.AuditLossAccepted{Reason: "restored from last night's backup", Operator: "root", AnchorSeq: 7, AnchorPosition: 900,
			AnchorHeadsRoot: "ab12", AnchorSignature: []byte{1, 2, 3}, LogHead: 850, LogCheckpointSeq: 6, At: t0},
		domain.CheckpointSigned{Format: 3, Seq: 7, Position: 900, Streams: 12, HeadsRoot: "ab12",
			Changed: []domain.CheckpointHead{{Stream: "account-1", Version: 4, Hash: "cd34"}}, PublicKey: devPub, Signature: []byte{9}, At: t0},
	)
}

// TestTypesOfListsTheTypesOfAnInterface checks that TypesOf names exactly the registered types
// whose Go type implements the interface, over the samples of every registered type.
func TestTypesOfListsTheTypesOfAnInterface(t *testing.T) {
	t.Parallel()
	var want []string
	for _, e := range samples {
		if _, ok := e.(domain.FinalEvent); ok {
			want = append(want, e.EventType())
		}
	}
	slices.Sort(want)
	got := domain.TypesOf[domain.FinalEvent](domain.Events)
	if len(want) < 5 || !slices.Equal(got, want) {
		t.Fatalf("TypesOf[FinalEvent] = %v, want %v", got, want)
	}
	if got := domain.TypesOf[domain.Event](domain.Events); !slices.Equal(got, domain.EventTypes()) {
		t.Fatalf("TypesOf[Event] = %v, want every registered type", got)
	}
}
