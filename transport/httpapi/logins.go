package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/danielgtaylor/huma/v2/sse"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// LoginStatus is a pending sign-in's state as its login page sees it.
type LoginStatus struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	Status      string    `json:"status" enum:"pending,approved,denied,fraud_reported,expired,cancelled,completed_totp,completed_backup_code"`
	// Approved is true when the page may exchange its login token for a session.
	Approved bool      `json:"approved"`
	At       time.Time `json:"at,omitzero"`
}

func statusOf(id uuid.UUID, o *push.Outcome) LoginStatus {
	if o == nil {
		return LoginStatus{ChallengeID: id, Status: "pending"}
	}
	return LoginStatus{ChallengeID: id, Status: o.Status, Approved: o.Approved(), At: o.At}
}

type loginInput struct {
	ID    uuid.UUID `path:"id" doc:"The challenge"`
	Token string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
	Query string    `query:"token" doc:"The login token, for clients that cannot set headers (EventSource, WebSocket)"`
}

// Huma reads parameters from the fields of the input struct itself, so the inputs that add
// to loginInput repeat its fields. requireLoginToken checks the token of them all.
type pollParams struct {
	ID    uuid.UUID `path:"id" doc:"The challenge"`
	Token string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
	Query string    `query:"token" doc:"The login token, for clients that cannot set headers"`
	Wait  string    `query:"wait" doc:"Hold the request up to this long (Go duration, at most 30s) for the outcome" example:"25s"`
}

type sseParams struct {
	ID          uuid.UUID `path:"id" doc:"The challenge"`
	Token       string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
	Query       string    `query:"token" doc:"The login token (EventSource cannot set headers)"`
	LastEventID string    `header:"Last-Event-ID"`
}

type codeParams struct {
	ID    uuid.UUID `path:"id" doc:"The challenge"`
	Token string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
	Query string    `query:"token" doc:"The login token, for clients that cannot set headers"`
	Body  struct {
		Code string `json:"code" maxLength:"64" doc:"A 6-digit code of the app, or a backup code"`
	}
}

type statusOutput struct {
	Body LoginStatus
}

// requireLoginToken admits only the browser that holds the challenge's login token. It runs
// before the handler of every login route, so that a stream refuses before it starts.
func (s *Server) requireLoginToken(ctx huma.Context, next func(huma.Context)) {
	id, err := uuid.Parse(ctx.Param("id"))
	token := ctx.Header("X-Login-Token")
	if token == "" {
		token = ctx.Query("token")
	}
	if err != nil || !s.cfg.Sessions.CheckLoginToken(id, token) {
		s.writeHuma(ctx, errBadLoginToken)
		return
	}
	next(ctx)
}

// outcomeNow returns the outcome if it is already known.
func (s *Server) outcomeNow(ctx context.Context, id uuid.UUID) (*push.Outcome, error) {
	o, ok, err := HubBackend{App: s.cfg.App}.Outcome(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	return &o, nil
}

func (s *Server) registerLogins() {
	loginErrors := []int{403, 404, 422}
	loginAuth := huma.Middlewares{s.requireLoginToken}
	huma.Register(s.api, huma.Operation{
		OperationID: "login-status", Method: http.MethodGet, Path: "/v1/logins/{id}", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:     "A pending sign-in's status (long-poll)",
		Description: "Answers at once when the outcome is known; otherwise holds the request up to `wait` for it.",
		Errors:      loginErrors,
	}, func(ctx context.Context, in *pollParams) (*statusOutput, error) {
		wait := time.Duration(0)
		if in.Wait != "" {
			d, err := time.ParseDuration(in.Wait)
			if err != nil || d < 0 || d > 30*time.Second {
				return nil, apierror.New(422, "invalid_request", "wait must be a duration of at most 30s, such as 25s.")
			}
			wait = d
		}
		if wait == 0 {
			o, err := s.outcomeNow(ctx, in.ID)
			if err != nil {
				return nil, s.fail(err)
			}
			return &statusOutput{Body: statusOf(in.ID, o)}, nil
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		wctx, release := s.cfg.Hub.Stream(wctx)
		defer release()
		o, err := s.cfg.Hub.WaitOutcome(wctx, in.ID)
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || push.ShuttingDown(wctx)) {
			return &statusOutput{Body: statusOf(in.ID, nil)}, nil // still pending: poll again
		}
		if err != nil {
			return nil, s.fail(err)
		}
		return &statusOutput{Body: statusOf(in.ID, &o)}, nil
	})

	sse.Register(s.api, huma.Operation{
		OperationID: "login-events", Method: http.MethodGet, Path: "/v1/logins/{id}/events", Tags: []string{"logins"},
		Summary:     "A pending sign-in's status as Server-Sent Events",
		Description: "Sends `status` at once (id 1, pending or final) and, when it is still pending, the final `status` (id 2) as soon as the log states it. A client that reconnects with Last-Event-ID 1 gets only the outcome.",
		Errors:      loginErrors,
		Middlewares: loginAuth,
	}, map[string]any{"status": LoginStatus{}}, func(ctx context.Context, in *sseParams, send sse.Sender) {
		ctx, release := s.cfg.Hub.Stream(ctx) // ends the stream when the node shuts down
		defer release()
		wait, stop := s.cfg.Hub.Await(in.ID)
		defer stop()
		o, err := s.outcomeNow(ctx, in.ID)
		if err != nil {
			return
		}
		if o != nil {
			_ = send(sse.Message{ID: 2, Data: statusOf(in.ID, o)})
			return
		}
		if last, _ := strconv.Atoi(in.LastEventID); last < 1 {
			if send(sse.Message{ID: 1, Data: statusOf(in.ID, nil), Retry: 2000}) != nil {
				return
			}
		}
		select {
		case o := <-wait:
			_ = send(sse.Message{ID: 2, Data: statusOf(in.ID, &o)})
		case <-ctx.Done():
		}
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "login-socket", Method: http.MethodGet, Path: "/v1/logins/{id}/socket", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:     "A pending sign-in's status over a WebSocket",
		Description: "Upgrades to a WebSocket that sends the status as JSON at once, then the final status, then closes normally.",
		Errors:      loginErrors,
		Responses:   map[string]*huma.Response{"101": {Description: "Switching to the WebSocket protocol."}},
	}, func(ctx context.Context, in *loginInput) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			ec := humaecho.Unwrap(hctx)
			ws, err := websocket.Accept(ec.Response(), ec.Request(), nil)
			if err != nil {
				return
			}
			defer ws.CloseNow()
			rctx := ws.CloseRead(ec.Request().Context())
			sctx, release := s.cfg.Hub.Stream(rctx)
			defer release()
			wait, stop := s.cfg.Hub.Await(in.ID)
			defer stop()
			o, err := s.outcomeNow(rctx, in.ID)
			if err != nil {
				ws.Close(websocket.StatusInternalError, "status unavailable")
				return
			}
			if o == nil {
				if wsjson.Write(rctx, ws, statusOf(in.ID, nil)) != nil {
					return
				}
				select {
				case got := <-wait:
					o = &got
				case <-sctx.Done():
					if push.ShuttingDown(sctx) {
						ws.Close(wire.CloseShuttingDown.Code, wire.CloseShuttingDown.Reason)
					}
					return
				}
			}
			if wsjson.Write(rctx, ws, statusOf(in.ID, o)) == nil {
				ws.Close(websocket.StatusNormalClosure, o.Status)
			}
		}}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "login-session", Method: http.MethodPost, Path: "/v1/logins/{id}/session", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary: "Exchange an approved sign-in for a session", Errors: []int{403, 404, 409, 410, 422},
	}, func(ctx context.Context, in *loginInput) (*signInOutput, error) {
		o, err := s.outcomeNow(ctx, in.ID)
		if err != nil {
			return nil, s.fail(err)
		}
		if err := refusalOf(o); err != nil {
			return nil, err
		}
		st, err := s.cfg.App.ChallengeStatus(ctx, in.ID)
		if err != nil {
			return nil, s.fail(err)
		}
		return s.signInOutput(humaCtx(ctx), st.AccountID, nil), nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "login-code", Method: http.MethodPost, Path: "/v1/logins/{id}/code", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:     "Complete a sign-in with a code instead of the push",
		Description: "A 6-digit code of the app (offline code of a linked device, or a TOTP app) or a backup code. Sets the session cookie.",
		Errors:      []int{403, 404, 409, 410, 422, 429},
	}, func(ctx context.Context, in *codeParams) (*signInOutput, error) {
		if err := s.limit(s.limits.codesIP, "code:"+clientIP(humaCtx(ctx))); err != nil {
			return nil, err
		}
		if err := s.limit(s.limits.codesAccount, "code:"+in.ID.String()); err != nil {
			return nil, err
		}
		code := strings.TrimSpace(in.Body.Code)
		var err error
		if isTOTP(code) {
			err = s.cfg.App.CompleteWithTOTP(ctx, in.ID, code)
		} else {
			err = s.cfg.App.CompleteWithBackupCode(ctx, in.ID, code)
		}
		if err != nil {
			return nil, s.fail(err)
		}
		st, err := s.cfg.App.ChallengeStatus(ctx, in.ID)
		if err != nil {
			return nil, s.fail(err)
		}
		return s.signInOutput(humaCtx(ctx), st.AccountID, nil), nil
	})
}

func isTOTP(code string) bool {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// refusalOf tells why a sign-in cannot become a session yet, or nil when it can.
func refusalOf(o *push.Outcome) error {
	switch {
	case o == nil:
		return apierror.New(409, "challenge_pending", "The sign-in has not been approved yet.")
	case o.Approved():
		return nil
	case o.Status == "expired":
		return apierror.New(410, "challenge_expired", "This sign-in request has expired.")
	case o.Status == "denied":
		return apierror.New(409, "challenge_denied", "The sign-in was denied on the device.")
	case o.Status == "fraud_reported":
		return apierror.New(409, "challenge_fraud_reported", "The sign-in was reported as not made by the account holder.")
	default:
		return apierror.New(409, "challenge_"+o.Status, "This sign-in request can no longer be used.")
	}
}
