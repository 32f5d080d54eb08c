package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/personal"
)

// Kinds of findings. Severity "error" means the log does not hold; "info" tells a limit.
const (
	FindPositionsMissing = "positions_missing"    // a gap in the global log: events deleted
	FindVersionsMissing  = "versions_missing"     // a gap in a stream
	FindVersionOrder     = "version_out_of_order" // a stream's versions do not follow the log's order
	FindChainBroken      = "chain_broken"         // an event does not chain to its predecessor
	FindStreamMissing    = "stream_missing"       // a checkpointed stream is gone
	FindStreamCut        = "stream_cut"           // a checkpointed stream lost its last events
	FindHeadAltered      = "head_altered"         // a checkpointed head's hash differs
	FindStreamUncovered  = "stream_not_in_checkpoint"
	FindTailCut          = "tail_cut"           // the log ends before what a checkpoint covers
	FindCheckpointBad    = "checkpoint_invalid" // bad signature, key, sequence or root
	FindRootMismatch     = "root_mismatch"      // the log's heads at a base checkpoint do not hash to its root
	FindSignatureBad     = "answer_signature_invalid"
	FindIndexMismatch    = "index_mismatch"       // the stream index disagrees with the log
	FindUncovered        = "not_yet_checkpointed" // info: events after the last checkpoint
	FindNoCheckpoint     = "no_checkpoint"        // info
	FindLossAccepted     = "loss_accepted"        // warning: an operator accepted a loss of events
	SeverityError        = "error"
	SeverityWarning      = "warning" // something an auditor must know, which does not fail verify
	SeverityInfo         = "info"
)

// Finding is one thing that does not hold, located by stream, version and position.
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Stream   string `json:"stream,omitempty"`
	Version  *int64 `json:"version,omitempty"`
	Position uint64 `json:"position,omitempty"`
	Message  string `json:"message"`
}

// Report is the outcome of Verify.
type Report struct {
	OK           bool      `json:"ok"`
	Events       int       `json:"events"`
	Streams      int       `json:"streams"`
	Head         uint64    `json:"head"`
	Approvals    int       `json:"answers_checked"`
	Checkpoints  int       `json:"checkpoints"`
	Checkpoint   *CPInfo   `json:"checkpoint,omitempty"`
	Findings     []Finding `json:"findings"`
	KeysTrusted  []string  `json:"keys_trusted"`
	AnchorUsed   bool      `json:"anchor_used"`
	AnchorSource string    `json:"anchor_source,omitempty"`
}

// CPInfo describes the checkpoint the log was compared against.
type CPInfo struct {
	Seq      uint64 `json:"seq"`
	Position uint64 `json:"position"`
	Streams  int    `json:"streams"`
	KeyID    string `json:"key_id"`
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// TrustedKeys verify checkpoints: each checkpoint is checked with the trusted key equal to
	// the one it names, and one that names no trusted key is invalid. Empty: each checkpoint's
	// own key is used, and the report says that no key was pinned.
	TrustedKeys []ed25519.PublicKey
	// Anchor is a checkpoint kept outside the log (the server's AnchorFile, or one an auditor
	// saved); a log that ends before it is reported as cut.
	Anchor       *checkpoint.Signed
	AnchorSource string
}

// baseRef is a base checkpoint found before the pass.
type baseRef struct {
	seq uint64
	pos eventstore.Position
}

// baseHeads are the log's own heads at a base checkpoint's position.
type baseHeads struct {
	root    string
	streams int
	heads   map[string]headState // nil when the base is not compared against
}

type challengeFacts struct {
	digest  []byte
	devices map[uuid.UUID][]byte
}

type verifier struct {
	opts    VerifyOptions
	rep     *Report
	heads   map[string]headState
	target  *checkpoint.Signed // what the log is compared against
	beforeT map[string]headState
	claimed map[string]headState // folded from checkpoints up to target
	tracker bucketTracker        // the checkpoint.FormatBuckets root of claimed
	// partial is set while claimed comes from the log's own heads at a base checkpoint whose
	// root they did not match: the roots of the checkpoints after it cannot fold, and are not
	// reported again until the next base.
	partial bool
	// bases are the base checkpoints (checkpoint.FormatBase) of the log, in order, found before the pass;
	// next is the first whose position the pass has not yet passed. At each base's position
	// the pass takes the log's own heads (crossed): their root and number, and a copy of them
	// when that base is compared against (its Seq up to the target's).
	bases   []baseRef
	next    int
	crossed map[eventstore.Position]*baseHeads
	logTree bucketTracker // the checkpoint.FormatBuckets root of heads, kept only when the log has bases
	lastSeq uint64
	logLast *checkpoint.Signed
	keys    map[uuid.UUID][]byte // device keys as registered
	chals   map[uuid.UUID]*challengeFacts
	prevPos eventstore.Position
	// sparse is set for a log whose positions leave gaps (eventstore.SparsePositions); past
	// counts its events after the checkpoint compared against.
	sparse bool
	past   uint64
}

func (v *verifier) find(kind, stream string, version int64, pos eventstore.Position, format string, args ...any) {
	f := Finding{Kind: kind, Severity: SeverityError, Stream: stream, Position: uint64(pos), Message: fmt.Sprintf(format, args...)}
	if version >= 0 {
		f.Version = &version
	}
	switch kind {
	case FindUncovered, FindNoCheckpoint:
		f.Severity = SeverityInfo
	case FindLossAccepted:
		f.Severity = SeverityWarning
	}
	v.rep.Findings = append(v.rep.Findings, f)
}

// Verify recomputes the hash chain of every stream, checks every checkpoint's signature and
// sequence, compares the log with the last checkpoint (or the anchor when it is newer), and
// checks every device signature on a challenge answer against the key the device registered,
// reporting per stream and position what does not hold. It reads the log once, in order.
func Verify(ctx context.Context, log ChainLog, opts VerifyOptions) (*Report, error) {
	rep := &Report{Findings: []Finding{}, KeysTrusted: []string{}}
	for _, k := range opts.TrustedKeys {
		rep.KeysTrusted = append(rep.KeysTrusted, checkpoint.KeyID(k))
	}
	v := &verifier{opts: opts, rep: rep, heads: map[string]headState{}, beforeT: map[string]headState{},
		claimed: map[string]headState{}, keys: map[uuid.UUID][]byte{}, chals: map[uuid.UUID]*challengeFacts{}}
	if sp, ok := log.(eventstore.SparsePositions); ok && sp.SparsePositions() {
		v.sparse = true
	}
	// The last checkpoint the log holds, read first so that the pass can keep the heads as they
	// were at its position. The pass then checks that it is indeed the last.
	last, err := log.ReadStream(ctx, checkpoint.Stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	if err == nil && len(last) == 1 {
		if cp, err := checkpoint.Decode(&last[0]); err == nil {
			v.target = &cp
		}
	}
	if a := opts.Anchor; a != nil && (v.target == nil || a.Seq > v.target.Seq) {
		v.target, rep.AnchorUsed, rep.AnchorSource = a, true, opts.AnchorSource
	}
	if v.bases, err = baseCheckpoints(ctx, log); err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	if a := opts.Anchor; a != nil && rep.AnchorUsed && a.Base && a.FormatOrSorted() == checkpoint.FormatBase {
		if n := len(v.bases); n == 0 || v.bases[n-1].seq < a.Seq {
			v.bases = append(v.bases, baseRef{seq: a.Seq, pos: eventstore.Position(a.Position)})
		}
	}
	v.crossed = map[eventstore.Position]*baseHeads{}
	// Stream reads go through the store's index: a row lost there hides an event from every
	// command (a used backup code would read as unused), so the index is checked as well, beside
	// the pass over the log.
	type indexResult struct {
		problems []eventstore.IndexProblem
		err      error
	}
	var index chan indexResult
	if iv, ok := log.(eventstore.IndexVerifier); ok {
		index = make(chan indexResult, 1)
		go func() {
			p, err := iv.VerifyIndex(ctx)
			index <- indexResult{p, err}
		}()
	}
	next := pipeline(ctx, log)
	for {
		evs, err := next()
		if err != nil {
			return nil, fmt.Errorf("audit verify: %w", err)
		}
		if evs == nil {
			break
		}
		for i := range evs {
			v.event(&evs[i])
		}
	}
	v.finish()
	if index != nil {
		r := <-index
		if r.err != nil {
			return nil, fmt.Errorf("audit verify: %w", r.err)
		}
		for _, p := range r.problems {
			v.find(FindIndexMismatch, p.Stream, p.Version, p.Position, "%s", p.Message)
		}
	}
	rep.OK = !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Severity == SeverityError })
	return rep, nil
}

// baseCheckpoints reads the checkpoint stream, a page at a time, and returns its base
// checkpoints (checkpoint.FormatBase), in order: the pass must take the log's heads at each one's
// position, which lies before the checkpoint's own event. Only the few fields it needs are
// decoded; the changed lists are skipped.
func baseCheckpoints(ctx context.Context, log Log) ([]baseRef, error) {
	const limit = 100
	var (
		out  []baseRef
		from uint64
	)
	for {
		evs, err := log.ReadStream(ctx, checkpoint.Stream, eventstore.ReadStreamOptions{From: from, Limit: limit})
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for i := range evs {
			var h struct {
				Format   int    `json:"format"`
				Seq      uint64 `json:"seq"`
				Position uint64 `json:"position"`
				Base     bool   `json:"base"`
			}
			if evs[i].Type == (domain.CheckpointSigned{}).EventType() && json.Unmarshal(evs[i].Data, &h) == nil && h.Format == checkpoint.FormatBase && h.Base {
				out = append(out, baseRef{seq: h.Seq, pos: eventstore.Position(h.Position)})
			}
		}
		if len(evs) < limit {
			return out, nil
		}
		from = evs[len(evs)-1].Version + 1
	}
}

// cross takes the log's own heads at the position of the next base checkpoint, once the pass
// has read every event up to it.
func (v *verifier) cross() {
	b := v.bases[v.next]
	v.next++
	st := &baseHeads{root: v.logTree.root(v.heads), streams: len(v.heads)}
	if v.target != nil && b.seq <= v.target.Seq {
		st.heads = maps.Clone(v.heads)
	}
	v.crossed[b.pos] = st
}

// base checks a base checkpoint against the log's own heads at its position and, when it is
// compared against, makes them the heads claimed so far.
func (v *verifier) base(cp checkpoint.Signed, stream string, version int64, pos eventstore.Position) {
	if len(cp.Changed) > 0 {
		v.find(FindCheckpointBad, stream, version, pos, "checkpoint #%d is a base but lists %d heads", cp.Seq, len(cp.Changed))
	}
	st := v.crossed[eventstore.Position(cp.Position)]
	delete(v.crossed, eventstore.Position(cp.Position))
	if st == nil {
		if v.target != nil && cp.Seq <= v.target.Seq {
			v.find(FindCheckpointBad, stream, version, pos, "checkpoint #%d is a base that was not in the log when verify began", cp.Seq)
		}
		return
	}
	mismatch := st.root != cp.HeadsRoot || st.streams != cp.Streams
	if mismatch {
		v.find(FindRootMismatch, stream, version, pos,
			"the log's heads at position %d (%d streams) do not hash to the root base checkpoint #%d signed (%d streams): an event up to position %d was altered, deleted or inserted",
			cp.Position, st.streams, cp.Seq, cp.Streams, cp.Position)
	}
	if st.heads != nil {
		v.claimed, v.tracker, v.partial = st.heads, bucketTracker{}, mismatch
		for s := range v.claimed {
			v.tracker.moved(s, true)
		}
	}
}

// pipeline reads pages of the log ahead in a goroutine while the caller verifies the previous
// page: reading and hashing then use both cores.
func pipeline(ctx context.Context, log ChainLog) func() ([]eventstore.ChainedEvent, error) {
	type result struct {
		evs []eventstore.ChainedEvent
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan result, 2)
	go func() {
		defer close(ch)
		var pos eventstore.Position
		for {
			evs, err := log.ReadAllChained(ctx, pos, page)
			select {
			case ch <- result{evs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(evs) < page {
				return
			}
			pos = evs[len(evs)-1].Position
		}
	}()
	done := false
	return func() ([]eventstore.ChainedEvent, error) {
		if done {
			return nil, nil
		}
		r, ok := <-ch
		if !ok {
			done = true
			cancel()
			return nil, nil
		}
		if r.err != nil {
			cancel()
			return nil, r.err
		}
		if len(r.evs) < page {
			done = true
			cancel()
		}
		if r.evs == nil {
			r.evs = []eventstore.ChainedEvent{}
		}
		return r.evs, nil
	}
}

func (v *verifier) event(ev *eventstore.ChainedEvent) {
	for v.next < len(v.bases) && ev.Position > v.bases[v.next].pos {
		v.cross()
	}
	v.rep.Events++
	if v.target != nil && ev.Position > eventstore.Position(v.target.Position) {
		v.past++
	}
	if ev.Position != v.prevPos+1 && !v.sparse {
		v.find(FindPositionsMissing, "", -1, ev.Position, "positions %d to %d are missing from the log: events were deleted", v.prevPos+1, ev.Position-1)
	}
	v.prevPos = ev.Position
	h, seen := v.heads[ev.Stream]
	if !seen {
		h.version = -1
	}
	if v.target != nil && ev.Position > eventstore.Position(v.target.Position) {
		if _, kept := v.beforeT[ev.Stream]; !kept {
			v.beforeT[ev.Stream] = h
			if !seen {
				v.beforeT[ev.Stream] = headState{version: -2} // did not exist at the target
			}
		}
	}
	version := int64(ev.Version)
	switch {
	case version <= h.version:
		v.find(FindVersionOrder, ev.Stream, version, ev.Position, "version %d comes after version %d in the log: events were moved or swapped", version, h.version)
	case version > h.version+1:
		v.find(FindVersionsMissing, ev.Stream, version, ev.Position, "versions %d to %d of the stream are missing: events were deleted", h.version+1, version-1)
	case ev.PrevHash != h.hash:
		if h.version < 0 {
			v.find(FindChainBroken, ev.Stream, version, ev.Position, "the first event of the stream does not chain to the zero hash: it was altered")
		} else {
			v.find(FindChainBroken, ev.Stream, version-1, ev.Position, "the event at version %d does not chain to version %d: version %d (or this event's link) was altered", version, version-1, version-1)
		}
	}
	v.heads[ev.Stream] = headState{version: version, hash: ev.Hash()}
	if len(v.bases) > 0 {
		v.logTree.moved(ev.Stream, !seen)
	}
	switch {
	case ev.Stream == checkpoint.Stream:
		v.checkpoint(ev)
	case ev.Stream == LossStream:
		v.loss(ev)
	case answerTypes[ev.Type]:
		v.answer(ev)
	}
}

func (v *verifier) checkpoint(ev *eventstore.ChainedEvent) {
	v.rep.Checkpoints++
	cp, err := checkpoint.Decode(&ev.RecordedEvent)
	if err != nil {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "%v", err)
		return
	}
	if cp.Seq != v.lastSeq+1 {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #%d follows #%d: checkpoints are missing", cp.Seq, v.lastSeq)
	}
	v.lastSeq = cp.Seq
	v.verifySignature(cp, ev.Stream, int64(ev.Version), ev.Position)
	if cp.Position >= uint64(ev.Position) {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #%d claims position %d, not before its own event", cp.Seq, cp.Position)
	}
	if cp.FormatOrSorted() == checkpoint.FormatBase && !cp.Base && cp.Seq == 1 {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #1 is of format %d but not a base: the heads before it are not signed", checkpoint.FormatBase)
	}
	if cp.FormatOrSorted() == checkpoint.FormatBase && cp.Base {
		v.base(cp, ev.Stream, int64(ev.Version), ev.Position)
	} else if v.target != nil && cp.Seq <= v.target.Seq {
		for _, hd := range cp.Changed {
			hash, err := eventstore.ParseHash(hd.Hash)
			if err != nil {
				v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #%d holds a bad hash for %q", cp.Seq, hd.Stream)
				continue
			}
			_, known := v.claimed[hd.Stream]
			v.claimed[hd.Stream] = headState{version: int64(hd.Version), hash: hash}
			v.tracker.moved(hd.Stream, !known)
		}
		// Each checkpoint's root of the bucket formats is checked as it comes (its cost is the
		// buckets that changed); the last one's, of any format, in finish.
		if checkpoint.BucketRoot(cp.FormatOrSorted()) && cp.Seq < v.target.Seq && !v.partial && v.tracker.root(v.claimed) != cp.HeadsRoot {
			v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "the heads of checkpoints #1 to #%d do not fold to the root #%d signed", cp.Seq, cp.Seq)
		}
	}
	if cp.FormatOrSorted() > checkpoint.FormatBase {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #%d is of format %d, which this verifier does not know: upgrade it", cp.Seq, cp.FormatOrSorted())
	}
	if v.target != nil && cp.Seq == v.target.Seq && v.rep.AnchorUsed && !bytes.Equal(cp.Signature, v.target.Signature) {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "checkpoint #%d in the log differs from the anchor's", cp.Seq)
	}
	v.logLast = &cp
}

// claimedRoot is the root of the heads claimed so far by the rule of format: from the tracker
// (the buckets changed since its last root) for the bucket formats.
func (v *verifier) claimedRoot(format int) string {
	if checkpoint.BucketRoot(format) {
		return v.tracker.root(v.claimed)
	}
	return headsRoot(format, v.claimed)
}

// loss reports an operator's acceptance of lost events: the log after it is signed again, but
// what was lost stays lost, and an auditor must be told.
func (v *verifier) loss(ev *eventstore.ChainedEvent) {
	a, err := decodeLoss(&ev.RecordedEvent)
	if err != nil {
		v.find(FindCheckpointBad, ev.Stream, int64(ev.Version), ev.Position, "%v", err)
		return
	}
	v.find(FindLossAccepted, ev.Stream, int64(ev.Version), ev.Position,
		"on %s operator %q accepted the loss of the events after position %d (the last signed checkpoint then was #%d of position %d; the log's own last was #%d): %s",
		a.At.Format(time.RFC3339), a.Operator, a.LogHead, a.AnchorSeq, a.AnchorPosition, a.LogCheckpointSeq, a.Reason)
}

func (v *verifier) verifySignature(cp checkpoint.Signed, stream string, version int64, pos eventstore.Position) bool {
	// A checkpoint names the key that signed it (its public key); that key must be trusted.
	// Each keyring key derives its own checkpoint key, so after a rotation the old key's
	// checkpoints are checked with the old key, as long as it is trusted.
	var key ed25519.PublicKey
	for _, k := range v.opts.TrustedKeys {
		if bytes.Equal(k, cp.PublicKey) {
			key = k
		}
	}
	if len(v.opts.TrustedKeys) == 0 && len(cp.PublicKey) == ed25519.PublicKeySize {
		key = cp.PublicKey
	}
	if key == nil {
		v.find(FindCheckpointBad, stream, version, pos, "checkpoint #%d is signed by key %s, which is not trusted: a retired key, or not the server's (trust a retired key's public key explicitly)", cp.Seq, checkpoint.KeyID(cp.PublicKey))
		return false
	}
	if !ed25519.Verify(key, cp.Payload(), cp.Signature) {
		v.find(FindCheckpointBad, stream, version, pos, "the signature of checkpoint #%d does not verify with its key %s", cp.Seq, checkpoint.KeyID(key))
		return false
	}
	return true
}

// answerTypes are the events answer reads: device keys, challenges, and the devices' signed
// answers.
var answerTypes = domain.TypeSet(domain.DeviceRegistered{}, domain.ChallengeIssued{}, domain.ChallengeApproved{},
	domain.ChallengeDenied{}, domain.FraudReported{}, domain.NumberMismatched{})

// answer keeps device keys and challenge facts, and checks each answer's signature with the
// key the device registered, over the digest the challenge recorded.
func (v *verifier) answer(ev *eventstore.ChainedEvent) {
	e, err := domain.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if err != nil {
		v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "the event does not decode: %v", err)
		return
	}
	var (
		challenge, device uuid.UUID
		answer            domain.Answer
		number            domain.MatchNumber
		sig               []byte
	)
	switch e := e.(type) {
	case domain.DeviceRegistered:
		v.keys[e.DeviceID] = e.PublicKey
		return
	case domain.ChallengeIssued:
		f := &challengeFacts{digest: e.ContextDigest, devices: map[uuid.UUID][]byte{}}
		// A sealed context (its browser, address and place are personal fields, package
		// personal) cannot be compared with its digest here; the answers' signatures still
		// cover the digest recorded.
		if d := e.Context.Digest(); !personal.IsSealed(ev.Data) && !bytes.Equal(d[:], e.ContextDigest) {
			v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "the challenge's context digest does not match its context")
		}
		for _, d := range e.Devices {
			f.devices[d.DeviceID] = d.PublicKey
		}
		v.chals[e.ChallengeID] = f
		return
	case domain.ChallengeApproved:
		challenge, device, answer, number, sig = e.ChallengeID, e.DeviceID, domain.AnswerApprove, e.Number, e.Signature
	case domain.NumberMismatched:
		challenge, device, answer, number, sig = e.ChallengeID, e.DeviceID, domain.AnswerApprove, e.Typed, e.Signature
	case domain.ChallengeDenied:
		challenge, device, answer, sig = e.ChallengeID, e.DeviceID, domain.AnswerDeny, e.Signature
	case domain.FraudReported:
		challenge, device, answer, sig = e.ChallengeID, e.DeviceID, domain.AnswerFraud, e.Signature
	default:
		return
	}
	v.rep.Approvals++
	f := v.chals[challenge]
	if f == nil {
		v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "an answer to challenge %s, which the log never issued", challenge)
		return
	}
	key, ok := v.keys[device]
	if !ok {
		v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "an answer from device %s, which had not registered a key at that moment", device)
		return
	}
	if sent, ok := f.devices[device]; !ok || !bytes.Equal(sent, key) {
		v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "device %s was not asked, or was asked under another key", device)
	}
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize ||
		!ed25519.Verify(key, domain.SignedAnswerPayload(challenge, answer, number, f.digest), sig) {
		v.find(FindSignatureBad, ev.Stream, int64(ev.Version), ev.Position, "the %s signature of device %s does not verify with the key it registered", answer, device)
	}
}

func (v *verifier) finish() {
	for v.next < len(v.bases) { // the log ends before a base's position: its tail was cut
		v.cross()
	}
	v.rep.Streams = len(v.heads)
	v.rep.Head = uint64(v.prevPos)
	t := v.target
	if t == nil {
		v.find(FindNoCheckpoint, "", -1, 0, "the log holds no checkpoint: deleted streams and a cut tail cannot be detected")
		return
	}
	v.rep.Checkpoint = &CPInfo{Seq: t.Seq, Position: t.Position, Streams: t.Streams, KeyID: checkpoint.KeyID(t.PublicKey)}
	if v.rep.AnchorUsed {
		v.verifySignature(*t, checkpoint.Stream, -1, 0)
		logSeq := uint64(0)
		if v.logLast != nil {
			logSeq = v.logLast.Seq
		}
		if t.Seq > logSeq {
			v.find(FindTailCut, checkpoint.Stream, -1, eventstore.Position(t.Position),
				"the anchor holds checkpoint #%d of position %d, but the log's last checkpoint is #%d and the log ends at %d: its tail was cut", t.Seq, t.Position, logSeq, v.prevPos)
			switch {
			case t.Seq == logSeq+1 && t.Base && t.FormatOrSorted() == checkpoint.FormatBase:
				v.base(*t, checkpoint.Stream, -1, eventstore.Position(t.Position))
			case t.Seq == logSeq+1:
				for _, hd := range t.Changed {
					if hash, err := eventstore.ParseHash(hd.Hash); err == nil {
						_, known := v.claimed[hd.Stream]
						v.claimed[hd.Stream] = headState{version: int64(hd.Version), hash: hash}
						v.tracker.moved(hd.Stream, !known)
					}
				}
			default:
				// Checkpoints between are gone too: only the streams named so far can be compared.
				v.claimed, v.tracker = map[string]headState{}, bucketTracker{}
			}
		}
	} else if v.logLast == nil || v.logLast.Seq != t.Seq {
		v.find(FindCheckpointBad, checkpoint.Stream, -1, 0, "the last checkpoint read first (#%d) is not the last one in the log", t.Seq)
	}
	if len(v.claimed) > 0 && !v.partial && v.claimedRoot(t.FormatOrSorted()) != t.HeadsRoot {
		v.find(FindCheckpointBad, checkpoint.Stream, -1, eventstore.Position(t.Position), "the heads of checkpoints #1 to #%d do not fold to the signed root", t.Seq)
	}
	at := func(stream string) headState {
		if h, ok := v.beforeT[stream]; ok {
			return h
		}
		if h, ok := v.heads[stream]; ok {
			return h
		}
		return headState{version: -2}
	}
	names := make([]string, 0, len(v.claimed))
	for s := range v.claimed {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		want, got := v.claimed[s], at(s)
		switch {
		case got.version < -1 || got.version == -1:
			v.find(FindStreamMissing, s, want.version, 0, "the stream is gone: checkpoint #%d signed it with %d events", t.Seq, want.version+1)
		case got.version < want.version:
			v.find(FindStreamCut, s, got.version+1, 0, "the stream ends at version %d but checkpoint #%d signed it up to version %d: its last events were deleted", got.version, t.Seq, want.version)
		case got.version > want.version:
			v.find(FindStreamCut, s, want.version+1, 0, "the stream had version %d when checkpoint #%d signed version %d: events were inserted before the checkpoint", got.version, t.Seq, want.version)
		case got.hash != want.hash:
			v.find(FindHeadAltered, s, want.version, 0, "the stream's events up to version %d do not hash to what checkpoint #%d signed: one of them was altered", want.version, t.Seq)
		}
	}
	if len(v.claimed) > 0 {
		for s := range v.heads {
			got := at(s)
			if _, ok := v.claimed[s]; !ok && got.version >= 0 && s != checkpoint.Stream {
				v.find(FindStreamUncovered, s, got.version, 0, "the stream existed at position %d but checkpoint #%d does not name it", t.Position, t.Seq)
			}
		}
	}
	if v.prevPos < eventstore.Position(t.Position) && !v.rep.AnchorUsed {
		v.find(FindTailCut, "", -1, v.prevPos, "the log ends at position %d but checkpoint #%d covers up to %d", v.prevPos, t.Seq, t.Position)
	}
	n := v.prevPos - eventstore.Position(t.Position)
	if v.sparse {
		n = eventstore.Position(v.past)
	}
	if v.prevPos > eventstore.Position(t.Position) && n > 1 {
		v.find(FindUncovered, "", -1, eventstore.Position(t.Position)+1, "%d events after position %d are not yet covered by a signed checkpoint", n, t.Position)
	}
}
