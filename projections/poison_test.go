package projections_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// TestPoisonEventRetriedThenSkippedByItsReadModelOnly applies a batch that holds a device
// registration of a schema version newer than the code: the batch fails and commits nothing
// until the event has been tried MaxAttempts times, then the devices read model skips it and
// records it, while every read model folds the rest of the batch.
func TestPoisonEventRetriedThenSkippedByItsReadModelOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	set := projections.NewSet()
	acct, dev := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	email, _ := domain.ParseEmail("p@example.com")
	poison := recorded(t, 2, domain.DeviceRegistered{DeviceID: dev, PublicKey: make([]byte, 32), Name: "phone", At: at})
	poison.SchemaVersion = 99
	batch := []eventstore.RecordedEvent{
		recorded(t, 1, domain.AccountRegistered{AccountID: acct, Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: at}),
		poison,
		recorded(t, 3, domain.MFAEnabled{AccountID: acct, At: at}),
	}
	for attempt := 1; attempt < projections.MaxAttempts; attempt++ {
		err := set.ApplyBatch(ctx, batch)
		var pe *projections.PoisonError
		if !errors.As(err, &pe) || pe.Failed.Attempts != attempt || pe.Failed.Projection != "devices" || pe.Failed.Position != 2 {
			t.Fatalf("attempt %d: %v, want a PoisonError of devices at 2, attempt %d", attempt, err, attempt)
		}
		if set.Position() != 0 || set.Accounts.Len() != 0 {
			t.Fatalf("attempt %d: a failed batch committed (position %d, %d accounts)", attempt, set.Position(), set.Accounts.Len())
		}
	}
	if err := set.ApplyBatch(ctx, batch); err != nil {
		t.Fatalf("attempt %d: %v, want the event skipped", projections.MaxAttempts, err)
	}
	if set.Position() != 3 || set.Skipped() != 1 {
		t.Fatalf("after the skip: position %d, %d skipped; want 3, 1", set.Position(), set.Skipped())
	}
	if v, err := set.Accounts.Get(acct); err != nil || !v.MFAEnabled {
		t.Fatalf("the accounts read model did not fold the events around the poison one: %+v, %v", v, err)
	}
	if _, err := set.Devices.Get(dev); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("the device of the skipped event: %v, want ErrNotFound", err)
	}
	fs, err := set.Store().Failures(ctx)
	if err != nil || len(fs) != 1 || !fs[0].Skipped || fs[0].Attempts != projections.MaxAttempts || fs[0].SchemaVersion != 99 || fs[0].Type != "device.registered" {
		t.Fatalf("failed events %+v, %v", fs, err)
	}
	// A redelivery of the batch changes nothing.
	if err := set.ApplyBatch(ctx, batch); err != nil || set.Skipped() != 1 {
		t.Fatalf("a redelivery: %v, %d skipped", err, set.Skipped())
	}
}
