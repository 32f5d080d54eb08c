package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// Recorder appends the record of audit reads to ReadsStream.
type Recorder struct {
	Appender Appender
	Now      func() time.Time
}

// Record appends that auditor read target through operation. It returns once the record is
// durable, so that no audit read goes unrecorded.
func (r *Recorder) Record(ctx context.Context, auditor, operation, target string) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	ev, err := encodeEvent(ReadRecorded{Auditor: auditor, Operation: operation, Target: target, At: now().UTC()}, "auditor:"+auditor)
	if err != nil {
		return err
	}
	if _, err := r.Appender.Append(ctx, ReadsStream, eventstore.Any(), ev); err != nil {
		return fmt.Errorf("audit record read: %w", err)
	}
	return nil
}
