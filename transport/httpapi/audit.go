package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/transport/apierror"
)

// AuditLog is the event store as the audit routes read it: the chained log and live tail.
type AuditLog interface {
	audit.ChainLog
	Subscribe(ctx context.Context, from eventstore.SubscribeFrom) (eventstore.Subscription, error)
}

// Audit wires the auditor's routes under /v1/audit. Nil: the routes are not served.
type Audit struct {
	Log    AuditLog
	Reader *audit.Reader
	// Opener opens the personal fields of events for display (personal.Codec); nil shows them
	// as stored, sealed.
	Opener      audit.Opener
	Auditors    *auditors.Auditors
	Recorder    *audit.Recorder
	PublicKey   ed25519.PublicKey   // signs new checkpoints
	TrustedKeys []ed25519.PublicKey // verify checkpoints: PublicKey and those of older keys still configured; empty: PublicKey
	Checkpoints LatestCheckpoint
	// AnchorPath is the server's anchor file, compared by verify.
	AnchorPath string
}

// LatestCheckpoint gives the last checkpoint signed in the log, or nil: the server's
// checkpointer (package audit/checkpointer).
type LatestCheckpoint interface {
	Latest(ctx context.Context) (*checkpoint.Signed, error)
}

// Refusals of the audit routes.
var (
	auditorReadOnly = apierror.New(403, "auditor_read_only", "An auditor credential can only read.")
	auditorUnknown  = apierror.New(401, "unauthenticated", "Send an auditor token as 'Authorization: Bearer asa_…'.")
	auditUnrecorded = apierror.New(503, "audit_unrecorded", "The audit read could not be recorded, so it was not served. Try again.")
)

func init() {
	apierror.Add(eventstore.ErrStreamNotFound, 404, "stream_not_found", "No such stream.")
	apierror.Add(audit.ErrBadBound, 422, "invalid_bound", "Give a time (at) or a position.")
}

const auditorKey ctxKey = 20

var auditSecurity = []map[string][]string{{"auditor": {}}}

// registerAudit serves the auditor's routes when cfg.Audit is set, and makes every write
// route refuse an auditor token.
func (s *Server) registerAudit() {
	s.echo.Use(refuseAuditorWrites)
	a := s.cfg.Audit
	if a == nil {
		return
	}
	s.api.OpenAPI().Components.SecuritySchemes["auditor"] = &huma.SecurityScheme{Type: "http", Scheme: "bearer",
		Description: "A read-only auditor token (asa_…), created with `assent audit token create`."}
	op := func(id, path, summary string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodGet, Path: path, Summary: summary, Tags: []string{"audit"},
			Security: auditSecurity, Middlewares: huma.Middlewares{s.requireAuditor}, Errors: []int{401, 404, 422, 503}}
	}
	// stream describes the body of a route that streams its answer.
	stream := func(op huma.Operation, contentType, body string) huma.Operation {
		op.Responses = map[string]*huma.Response{"200": {Description: "OK: " + body,
			Content: map[string]*huma.MediaType{contentType: {Schema: &huma.Schema{Type: "string", Description: body}}}}}
		return op
	}

	huma.Register(s.api, huma.Operation{OperationID: "audit-key", Method: http.MethodGet, Path: "/v1/audit/key", Tags: []string{"audit"},
		Summary: "The server's public key that signs checkpoints (no credential needed)"},
		func(context.Context, *struct{}) (*auditKeyOutput, error) {
			out := &auditKeyOutput{}
			out.Body.Algorithm, out.Body.PublicKey, out.Body.KeyID = "ed25519", base64.StdEncoding.EncodeToString(a.PublicKey), checkpoint.KeyID(a.PublicKey)
			out.Body.PreviousKeys = []auditKey{}
			for _, k := range a.trusted() {
				if !k.Equal(a.PublicKey) {
					out.Body.PreviousKeys = append(out.Body.PreviousKeys, auditKey{PublicKey: base64.StdEncoding.EncodeToString(k), KeyID: checkpoint.KeyID(k)})
				}
			}
			return out, nil
		})

	huma.Register(s.api, op("audit-checkpoint", "/v1/audit/checkpoint", "The latest signed checkpoint"),
		func(ctx context.Context, _ *struct{}) (*auditCheckpointOutput, error) {
			if err := s.recordRead(ctx, "checkpoint", ""); err != nil {
				return nil, err
			}
			cp, err := a.Checkpoints.Latest(ctx)
			if err != nil {
				return nil, err
			}
			if cp == nil {
				return nil, apierror.New(404, "no_checkpoint", "The server has not signed a checkpoint yet.")
			}
			return &auditCheckpointOutput{Body: *cp}, nil
		})

	huma.Register(s.api, stream(op("audit-log", "/v1/audit/log", "The global log after a position, as NDJSON"),
		"application/x-ndjson", "one event per line, as JSON"),
		func(ctx context.Context, in *auditLogInput) (*huma.StreamResponse, error) {
			if err := s.recordRead(ctx, "log", fmt.Sprintf("after %d", in.After)); err != nil {
				return nil, err
			}
			return s.ndjson(in.After, in.Limit, false), nil
		})

	huma.Register(s.api, stream(op("audit-export", "/v1/audit/export", "The global log with its hash chain, secrets withheld, as NDJSON"),
		"application/x-ndjson", "one event per line, as JSON, with its place in the hash chain"),
		func(ctx context.Context, in *auditLogInput) (*huma.StreamResponse, error) {
			if err := s.recordRead(ctx, "export", fmt.Sprintf("after %d", in.After)); err != nil {
				return nil, err
			}
			return s.ndjson(in.After, in.Limit, true), nil
		})

	huma.Register(s.api, stream(op("audit-tail", "/v1/audit/tail", "The global log after a position, then live, as Server-Sent Events"),
		"text/event-stream", "Server-Sent Events: `event` (id: the position, data: the event as JSON) for each event, and `caught-up` once the history is sent"),
		func(ctx context.Context, in *auditTailInput) (*huma.StreamResponse, error) {
			after := in.After
			if in.LastEventID != "" {
				fmt.Sscan(in.LastEventID, &after)
			}
			if err := s.recordRead(ctx, "tail", fmt.Sprintf("after %d", after)); err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) { s.tail(hctx, eventstore.Position(after)) }}, nil
		})

	huma.Register(s.api, op("audit-stream", "/v1/audit/streams/{stream}", "One stream's history"),
		func(ctx context.Context, in *auditStreamInput) (*auditEventsOutput, error) {
			if err := s.recordRead(ctx, "stream", in.Stream); err != nil {
				return nil, err
			}
			evs, err := a.Reader.Replay(ctx, in.Stream)
			if err != nil {
				return nil, s.fail(err)
			}
			return &auditEventsOutput{Body: evs}, nil
		})

	huma.Register(s.api, op("audit-timeline", "/v1/audit/accounts/{id}/timeline", "An account's history: account, devices, enrollments, challenges"),
		func(ctx context.Context, in *auditAccountInput) (*auditEventsOutput, error) {
			if err := s.recordRead(ctx, "timeline", in.ID.String()); err != nil {
				return nil, err
			}
			evs, err := a.Reader.Timeline(ctx, in.ID)
			if err != nil {
				return nil, s.fail(err)
			}
			return &auditEventsOutput{Body: evs}, nil
		})

	huma.Register(s.api, op("audit-state", "/v1/audit/accounts/{id}/state", "An account's state at a past time or position"),
		func(ctx context.Context, in *auditStateInput) (*auditStateOutput, error) {
			if err := s.recordRead(ctx, "state-at", fmt.Sprintf("%s at %q position %d", in.ID, in.At, in.Position)); err != nil {
				return nil, err
			}
			b := audit.Bound{Position: eventstore.Position(in.Position)}
			if in.At != "" {
				t, err := time.Parse(time.RFC3339Nano, in.At)
				if err != nil {
					return nil, apierror.New(422, "invalid_bound", "at must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z.")
				}
				b.Time = t
			}
			st, err := a.Reader.StateAt(ctx, in.ID, b)
			if err != nil {
				return nil, s.fail(err)
			}
			return &auditStateOutput{Body: st}, nil
		})

	huma.Register(s.api, op("audit-verify", "/v1/audit/verify", "Verify hash chains, checkpoints and answer signatures"),
		func(ctx context.Context, _ *struct{}) (*auditVerifyOutput, error) {
			if err := s.recordRead(ctx, "verify", ""); err != nil {
				return nil, err
			}
			opts := audit.VerifyOptions{TrustedKeys: a.trusted()}
			if a.AnchorPath != "" {
				if cp, err := checkpoint.ReadAnchor(a.AnchorPath); err == nil {
					opts.Anchor, opts.AnchorSource = cp, "server anchor file"
				}
			}
			rep, err := audit.Verify(ctx, a.Log, opts)
			if err != nil {
				return nil, s.fail(err)
			}
			return &auditVerifyOutput{Body: rep}, nil
		})
}

type auditKeyOutput struct {
	Body struct {
		Algorithm    string     `json:"algorithm"`
		PublicKey    string     `json:"public_key" doc:"base64 of the 32-byte Ed25519 public key"`
		KeyID        string     `json:"key_id"`
		PreviousKeys []auditKey `json:"previous_keys" doc:"keys of older secret keys still configured, which verify the checkpoints they signed"`
	}
}

type auditKey struct {
	PublicKey string `json:"public_key" doc:"base64 of the 32-byte Ed25519 public key"`
	KeyID     string `json:"key_id"`
}

// trusted returns the keys that verify checkpoints.
func (a *Audit) trusted() []ed25519.PublicKey {
	if len(a.TrustedKeys) == 0 {
		return []ed25519.PublicKey{a.PublicKey}
	}
	return a.TrustedKeys
}

type auditCheckpointOutput struct{ Body checkpoint.Signed }
type auditEventsOutput struct{ Body []audit.EventView }
type auditStateOutput struct{ Body audit.AccountState }
type auditVerifyOutput struct{ Body *audit.Report }

type auditLogInput struct {
	After uint64 `query:"after" doc:"Read events after this position"`
	Limit int    `query:"limit" default:"10000" minimum:"1" maximum:"1000000"`
}

type auditTailInput struct {
	After       uint64 `query:"after"`
	LastEventID string `header:"Last-Event-ID"`
}

type auditStreamInput struct {
	Stream string `path:"stream" maxLength:"200"`
}

type auditAccountInput struct {
	ID uuid.UUID `path:"id"`
}

type auditStateInput struct {
	ID       uuid.UUID `path:"id"`
	At       string    `query:"at" doc:"RFC 3339 time: events recorded at or before it"`
	Position uint64    `query:"position" doc:"events at or before this position"`
}

// requireAuditor admits requests with a valid auditor bearer token.
func (s *Server) requireAuditor(ctx huma.Context, next func(huma.Context)) {
	token, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	if !ok {
		s.writeHuma(ctx, auditorUnknown)
		return
	}
	name, err := s.cfg.Audit.Auditors.Authenticate(strings.TrimSpace(token))
	if err != nil {
		s.writeHuma(ctx, auditorUnknown)
		return
	}
	next(huma.WithValue(ctx, auditorKey, name))
}

// recordRead appends who read what before the read is served.
func (s *Server) recordRead(ctx context.Context, operation, target string) error {
	name, _ := ctx.Value(auditorKey).(string)
	if err := s.cfg.Audit.Recorder.Record(ctx, name, operation, target); err != nil {
		s.cfg.Log.Error("audit read not recorded", "err", err)
		return auditUnrecorded
	}
	return nil
}

// refuseAuditorWrites refuses any request that is not a read when it carries an auditor
// token, whatever the route: an auditor can read, never write.
func refuseAuditorWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		token, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if auditors.IsToken(strings.TrimSpace(token)) {
			writeProblem(c.Response(), auditorReadOnly)
			return nil
		}
		return next(c)
	}
}

// ndjson streams the log after 'after', up to limit events, one JSON event per line.
func (s *Server) ndjson(after uint64, limit int, chained bool) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/x-ndjson")
		hctx.SetStatus(http.StatusOK)
		w := hctx.BodyWriter()
		enc := json.NewEncoder(w)
		pos, left := eventstore.Position(after), limit
		ctx := hctx.Context()
		for left > 0 {
			evs, err := s.cfg.Audit.Log.ReadAllChained(ctx, pos, min(left, 2000))
			if err != nil {
				s.cfg.Log.Error("audit log", "err", err)
				return
			}
			for i := range evs {
				extendWriteDeadline(w)
				v := audit.OpenedView(ctx, s.cfg.Audit.Opener, &evs[i].RecordedEvent)
				if chained {
					v = audit.OpenedExportView(ctx, s.cfg.Audit.Opener, &evs[i])
				}
				if enc.Encode(v) != nil {
					return
				}
				pos = evs[i].Position
			}
			left -= len(evs)
			if len(evs) < 2000 {
				return
			}
		}
	}}
}

// tail streams the log after 'after' and then live events as Server-Sent Events: event
// "event" with the event's position as id, and "caught-up" once the history is sent.
func (s *Server) tail(hctx huma.Context, after eventstore.Position) {
	ctx, release := s.cfg.Hub.Stream(hctx.Context()) // ends the stream when the node shuts down
	defer release()
	sub, err := s.cfg.Audit.Log.Subscribe(ctx, eventstore.After(after))
	if err != nil {
		s.cfg.Log.Error("audit tail", "err", err)
		return
	}
	defer sub.Close()
	hctx.SetHeader("Content-Type", "text/event-stream")
	hctx.SetStatus(http.StatusOK)
	w := hctx.BodyWriter()
	extendWriteDeadline(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	for {
		m, err := sub.Recv()
		if err != nil {
			return
		}
		extendWriteDeadline(w)
		if m.CaughtUp {
			fmt.Fprint(w, "event: caught-up\ndata: {}\n\n")
			flush()
			continue
		}
		data, _ := json.Marshal(audit.OpenedView(ctx, s.cfg.Audit.Opener, m.Event))
		if _, err := fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", m.Event.Position, data); err != nil {
			return
		}
		flush()
	}
}
