package domain

import "time"

// The audit trail's own events: what the log records about itself. They are appended by the
// audit packages (audit, audit/checkpointer), not decided by an aggregate, and no read model
// folds them; they are in the registry so that every type the log holds has one schema, one
// version and one decoder (the auditor's summaries and the redaction test read them through it).
// Their streams share no prefix with the domain's.

// AuditReadRecorded: an auditor read something, through an operation, of a target. Appended
// before the read is answered, to the stream "audit-reads".
type AuditReadRecorded struct {
	Auditor   string    `json:"auditor"`
	Operation string    `json:"operation"`
	Target    string    `json:"target,omitempty"`
	At        time.Time `json:"at"`
}

// AuditLossAccepted: an operator accepted that the log lost events a signed checkpoint
// covered: what the anchor (the last checkpoint signed before the loss) held, what the log
// held, why, and who. Appended to the stream "audit-losses"; verify reports it for good.
type AuditLossAccepted struct {
	Reason          string `json:"reason"`
	Operator        string `json:"operator"`
	AnchorSeq       uint64 `json:"anchor_seq"`
	AnchorPosition  uint64 `json:"anchor_position"`
	AnchorHeadsRoot string `json:"anchor_heads_root"`
	AnchorSignature []byte `json:"anchor_signature"`
	// The log as it was found: its last position and its last checkpoint (0: none).
	LogHead          uint64    `json:"log_head"`
	LogCheckpointSeq uint64    `json:"log_checkpoint_seq"`
	At               time.Time `json:"at"`
}

// CheckpointHead is a stream's last event as a checkpoint saw it.
type CheckpointHead struct {
	Stream  string `json:"stream"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
}

// CheckpointSigned: the server signed the heads of the log's streams once the log reached
// Position. Appended to the stream "audit-checkpoints". Its formats, its signed payload and
// its verification are the audit/checkpoint package's (checkpoint.Signed is this event with
// those methods).
type CheckpointSigned struct {
	// Format is absent in checkpoints signed before formats were numbered.
	Format    int    `json:"format,omitempty"`
	Seq       uint64 `json:"seq"`
	Position  uint64 `json:"position"`
	Streams   int    `json:"streams"`
	HeadsRoot string `json:"heads_root"`
	// Base marks a checkpoint that lists no heads: HeadsRoot is the root of the heads of every
	// stream of the log at Position.
	Base      bool             `json:"base,omitempty"`
	Changed   []CheckpointHead `json:"changed"`
	PublicKey []byte           `json:"public_key"`
	Signature []byte           `json:"signature"`
	At        time.Time        `json:"at"`
}

func (AuditReadRecorded) EventType() string { return "audit.read.recorded" }
func (AuditLossAccepted) EventType() string { return "audit.loss.accepted" }
func (CheckpointSigned) EventType() string  { return "audit.checkpoint.signed" }

func (e AuditReadRecorded) OccurredAt() time.Time { return e.At }
func (e AuditLossAccepted) OccurredAt() time.Time { return e.At }
func (e CheckpointSigned) OccurredAt() time.Time  { return e.At }

// registerAudit adds the audit trail's events to the registry.
func registerAudit(r *Registry) {
	Register[AuditReadRecorded](r, 1)
	Register[AuditLossAccepted](r, 1)
	Register[CheckpointSigned](r, 1)
}
