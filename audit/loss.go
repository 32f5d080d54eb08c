package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// LossStream holds the operators' acceptances of a log that lost events (LossAccepted).
const LossStream = "audit-losses"

// ErrLogCut is matched by a *LogCutError: the log lacks events that a signed checkpoint (the
// anchor kept outside the log) covers, and no operator accepted the loss.
var ErrLogCut = errors.New("audit: the event log lost events that a signed checkpoint covers")

// LossAccepted records that an operator accepted the loss of the events after the log's end:
// what the anchor held, what the log held, why, and who. The event is the domain registry's.
type LossAccepted = domain.AuditLossAccepted

// LogCutError says what the log lost: the anchor's checkpoint, and where the log ends.
type LogCutError struct {
	Anchor  *checkpoint.Signed
	LogLast *checkpoint.Signed // the log's last checkpoint; nil when it holds none
	Head    eventstore.Position
}

func (e *LogCutError) Error() string {
	last := "it holds no checkpoint"
	if e.LogLast != nil {
		last = fmt.Sprintf("its last checkpoint is #%d", e.LogLast.Seq)
	}
	why := fmt.Sprintf("the anchor holds checkpoint #%d of position %d, but the log ends at position %d and %s",
		e.Anchor.Seq, e.Anchor.Position, e.Head, last)
	if e.LogLast != nil && e.LogLast.Seq == e.Anchor.Seq {
		why = fmt.Sprintf("the anchor's checkpoint #%d differs from the log's checkpoint #%d", e.Anchor.Seq, e.LogLast.Seq)
	}
	return ErrLogCut.Error() + ": " + why
}

func (e *LogCutError) Is(target error) bool { return target == ErrLogCut }

// CheckAgainstAnchor compares the log with the anchor, the checkpoint kept outside it: the log
// must hold the anchor's checkpoint (or a later one) and reach its position. A log that does
// not has lost events, and nothing may sign over it unless an operator recorded the loss
// (AcceptLoss) for this very anchor. It returns nil for a whole log, a log whose loss was
// accepted, or no anchor; else a *LogCutError. head is the log's last position.
func CheckAgainstAnchor(ctx context.Context, log Log, anchor *checkpoint.Signed, head eventstore.Position) error {
	if anchor == nil {
		return nil
	}
	var last *checkpoint.Signed
	evs, err := log.ReadStream(ctx, checkpoint.Stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound):
	case err != nil:
		return fmt.Errorf("audit: read the last checkpoint: %w", err)
	case len(evs) == 1:
		cp, err := checkpoint.Decode(&evs[0])
		if err != nil {
			return err
		}
		last = &cp
	}
	cut := last == nil || anchor.Seq > last.Seq || head < eventstore.Position(anchor.Position) ||
		(anchor.Seq == last.Seq && !bytes.Equal(anchor.Signature, last.Signature))
	if !cut {
		return nil
	}
	accepted, err := acceptances(ctx, log)
	if err != nil {
		return err
	}
	for _, a := range accepted {
		if a.AnchorSeq == anchor.Seq && a.AnchorPosition == anchor.Position && bytes.Equal(a.AnchorSignature, anchor.Signature) {
			return nil
		}
	}
	return &LogCutError{Anchor: anchor, LogLast: last, Head: head}
}

// acceptances reads every LossAccepted of the log.
func acceptances(ctx context.Context, log Log) ([]LossAccepted, error) {
	evs, err := log.ReadStream(ctx, LossStream, eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read the accepted losses: %w", err)
	}
	out := make([]LossAccepted, 0, len(evs))
	for i := range evs {
		if a, err := decodeLoss(&evs[i]); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func decodeLoss(ev *eventstore.RecordedEvent) (LossAccepted, error) {
	if ev.Type != (LossAccepted{}).EventType() {
		return LossAccepted{}, fmt.Errorf("audit: event at %d is a %s", ev.Position, ev.Type)
	}
	e, err := domain.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if err != nil {
		return LossAccepted{}, fmt.Errorf("audit: event at %d: %w", ev.Position, err)
	}
	return e.(LossAccepted), nil
}

// ErrNothingLost is returned by AcceptLoss when the log holds everything the anchor covers.
var ErrNothingLost = errors.New("audit: the log holds everything the anchor covers; there is no loss to accept")

// AcceptLoss records, in LossStream, that operator accepts the loss the anchor reveals, for
// reason (required). A server then starts on the log again and signs over it; verify reports
// the acceptance (loss_accepted) for good.
func AcceptLoss(ctx context.Context, log Log, app Appender, anchor *checkpoint.Signed, head eventstore.Position, operator, reason string, now time.Time) (*LossAccepted, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, errors.New("audit accept-loss: option 'reason' must say why the loss is accepted but it's empty")
	}
	err := CheckAgainstAnchor(ctx, log, anchor, head)
	var cut *LogCutError
	if !errors.As(err, &cut) {
		if err != nil {
			return nil, err
		}
		return nil, ErrNothingLost
	}
	a := LossAccepted{Reason: reason, Operator: operator, AnchorSeq: anchor.Seq, AnchorPosition: anchor.Position,
		AnchorHeadsRoot: anchor.HeadsRoot, AnchorSignature: anchor.Signature, LogHead: uint64(head), At: now.UTC()}
	if cut.LogLast != nil {
		a.LogCheckpointSeq = cut.LogLast.Seq
	}
	ev, err := encodeEvent(a, "operator:"+operator)
	if err != nil {
		return nil, err
	}
	if _, err := app.Append(ctx, LossStream, eventstore.Any(), ev); err != nil {
		return nil, fmt.Errorf("audit accept-loss: %w", err)
	}
	return &a, nil
}
