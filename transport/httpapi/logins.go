package httpapi

import (
	"context"
	"crypto/sha256"
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

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
	"github.com/assent-dev/assent/websession"
)

// LoginStatus is a pending sign-in's state as its login page sees it. Status is "pending" or
// a domain.Outcome's slug (TestLoginStatusEnumIsTheOutcomes).
type LoginStatus struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	Status      string    `json:"status" enum:"pending,approved,denied,fraud_reported,expired,cancelled,completed_totp,completed_backup_code"`
	// Approved is true when the page may exchange its login token for a session.
	Approved bool      `json:"approved"`
	At       time.Time `json:"at,omitzero"`
}

func statusOf(id uuid.UUID, o *push.Outcome) LoginStatus {
	if o == nil {
		return LoginStatus{ChallengeID: id, Status: domain.StatePending.String()}
	}
	return LoginStatus{ChallengeID: id, Status: o.Status, Approved: o.Approved(), At: o.At}
}

type loginInput struct {
	ID    uuid.UUID `path:"id" doc:"The challenge"`
	Token string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
}

// Huma reads parameters from the fields of the input struct itself, so the inputs that add
// to loginInput repeat its fields. The middlewares check the token or the ticket of them all.
type socketParams struct {
	ID     uuid.UUID `path:"id" doc:"The challenge"`
	Token  string    `header:"X-Login-Token" doc:"The login token returned with the challenge (or a ticket in the URL)"`
	Ticket string    `query:"ticket" doc:"A stream ticket of POST /v1/logins/{id}/ticket, for clients that cannot set headers (WebSocket in a browser)"`
}

type pollParams struct {
	ID     uuid.UUID `path:"id" doc:"The challenge"`
	Token  string    `header:"X-Login-Token" doc:"The login token returned with the challenge (or a ticket in the URL)"`
	Ticket string    `query:"ticket" doc:"A stream ticket of POST /v1/logins/{id}/ticket, instead of the header"`
	Wait   string    `query:"wait" doc:"Hold the request up to this long (Go duration, at most 30s) for the outcome" example:"25s"`
}

type sseParams struct {
	ID          uuid.UUID `path:"id" doc:"The challenge"`
	Token       string    `header:"X-Login-Token" doc:"The login token returned with the challenge (or a ticket in the URL)"`
	Ticket      string    `query:"ticket" doc:"A stream ticket of POST /v1/logins/{id}/ticket (EventSource cannot set headers)"`
	LastEventID string    `header:"Last-Event-ID"`
}

type codeParams struct {
	ID    uuid.UUID `path:"id" doc:"The challenge"`
	Token string    `header:"X-Login-Token" doc:"The login token returned with the challenge"`
	Body  struct {
		Code    string `json:"code" maxLength:"64" doc:"A 6-digit code of the app, or a backup code"`
		Purpose string `json:"purpose,omitempty" enum:"session,step_up" default:"session" doc:"session: pass the challenge and exchange it for the session cookie at once; step_up: only pass it, for the step that asked for it (turning 2FA off, linking from the phone), which spends it"`
	}
}

type statusOutput struct {
	Body LoginStatus
}

type ticketOutput struct {
	Status int
	Body   struct {
		Ticket    string    `json:"ticket" doc:"Opens this challenge's result streams: ?ticket= on /v1/logins/{id}, /events and /socket"`
		ExpiresAt time.Time `json:"expires_at" doc:"The ticket opens a stream until then (60 s); a stream already open stays open"`
	}
}

// Refusals of the login token and the stream ticket.
var (
	errTokenInURL = apierror.New(http.StatusBadRequest, "login_token_in_url",
		"The login token goes in the X-Login-Token header, never in a URL. A stream URL takes a ticket: POST /v1/logins/{id}/ticket.")
	errTicketInvalid = apierror.New(http.StatusUnauthorized, "stream_ticket_invalid",
		"This stream ticket is not valid for this sign-in. Get one with POST /v1/logins/{id}/ticket.")
	errTicketExpired = apierror.New(http.StatusUnauthorized, "stream_ticket_expired",
		"This stream ticket has expired. Get a new one with POST /v1/logins/{id}/ticket.")
)

// tokenInURL reports whether a request carries a login token in its query string, which
// proxies and browsers log: it is refused whatever else the request carries.
func tokenInURL(ctx huma.Context) bool {
	u := ctx.URL()
	return u.Query().Has("token")
}

// requireLoginToken admits only the browser that holds the challenge's login token, in the
// X-Login-Token header. It runs before the handler, so nothing happens for a refused request.
func (s *Server) requireLoginToken(ctx huma.Context, next func(huma.Context)) {
	if tokenInURL(ctx) {
		s.writeHuma(ctx, errTokenInURL)
		return
	}
	id, err := uuid.Parse(ctx.Param("id"))
	if err != nil || !s.cfg.Sessions.CheckLoginToken(id, ctx.Header("X-Login-Token")) {
		s.writeHuma(ctx, errBadLoginToken)
		return
	}
	next(ctx)
}

// requireStreamAccess admits to a challenge's result (long-poll, SSE, WebSocket) the holder of
// its login token, in the header, or of a fresh stream ticket, in ?ticket=. It runs before the
// handler, so that a stream refuses before it starts.
func (s *Server) requireStreamAccess(ctx huma.Context, next func(huma.Context)) {
	if tokenInURL(ctx) {
		s.writeHuma(ctx, errTokenInURL)
		return
	}
	id, err := uuid.Parse(ctx.Param("id"))
	if err != nil {
		s.writeHuma(ctx, errBadLoginToken)
		return
	}
	token, ticket := ctx.Header("X-Login-Token"), ctx.Query("ticket")
	if token != "" || ticket == "" {
		if !s.cfg.Sessions.CheckLoginToken(id, token) {
			s.writeHuma(ctx, errBadLoginToken)
			return
		}
		next(ctx)
		return
	}
	switch err := s.cfg.Sessions.CheckStreamTicket(id, ticket, s.cfg.Now()); {
	case errors.Is(err, websession.ErrTicketExpired):
		s.writeHuma(ctx, errTicketExpired)
	case err != nil:
		s.writeHuma(ctx, errTicketInvalid)
	default:
		next(ctx)
	}
}

// outcomeNow returns the outcome if it is already known.
func (s *Server) outcomeNow(ctx context.Context, id uuid.UUID) (*push.Outcome, error) {
	st, err := s.cfg.App.ChallengeStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return outcomeOf(st), nil
}

func (s *Server) registerLogins() {
	streamErrors := []int{400, 401, 403, 404, 422}
	streamAuth := huma.Middlewares{s.requireStreamAccess}
	loginAuth := huma.Middlewares{s.requireLoginToken}
	huma.Register(s.api, huma.Operation{
		OperationID: "login-status", Method: http.MethodGet, Path: "/v1/logins/{id}", Middlewares: streamAuth, Tags: []string{"logins"},
		Summary:     "A pending sign-in's status (long-poll)",
		Description: "Answers at once when the outcome is known; otherwise holds the request up to `wait` for it. Takes the login token in X-Login-Token, or a stream ticket in `?ticket=`; never the token in the URL (400 login_token_in_url).",
		Errors:      streamErrors,
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
		extendWriteDeadline(humaCtx(ctx).BodyWriter()) // the wait may outlast the server's write timeout
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
		Description: "Sends `status` at once (id 1, pending or final) and, when it is still pending, the final `status` (id 2) as soon as the log states it. A client that reconnects with Last-Event-ID 1 gets only the outcome. A browser opens it with a stream ticket in `?ticket=`.",
		Errors:      streamErrors,
		Middlewares: streamAuth,
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
		OperationID: "login-socket", Method: http.MethodGet, Path: "/v1/logins/{id}/socket", Middlewares: streamAuth, Tags: []string{"logins"},
		Summary:     "A pending sign-in's status over a WebSocket",
		Description: "Upgrades to a WebSocket that sends the status as JSON at once, then the final status, then closes normally. A browser opens it with a stream ticket in `?ticket=`.",
		Errors:      streamErrors,
		Responses:   map[string]*huma.Response{"101": {Description: "Switching to the WebSocket protocol."}},
	}, func(ctx context.Context, in *socketParams) (*huma.StreamResponse, error) {
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
		OperationID: "login-ticket", Method: http.MethodPost, Path: "/v1/logins/{id}/ticket", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:       "A short-lived ticket that opens the sign-in's result streams",
		Description:   "For the URLs of EventSource and WebSocket, which cannot carry the X-Login-Token header: the ticket is bound to this challenge, opens only its result streams, and expires after 60 seconds.",
		DefaultStatus: http.StatusCreated, Errors: []int{400, 403},
	}, func(ctx context.Context, in *loginInput) (*ticketOutput, error) {
		out := &ticketOutput{Status: http.StatusCreated}
		out.Body.Ticket, out.Body.ExpiresAt = s.cfg.Sessions.StreamTicket(in.ID, s.cfg.Now())
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "login-session", Method: http.MethodPost, Path: "/v1/logins/{id}/session", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:     "Exchange an approved sign-in for a session, once",
		Description: "The exchange is recorded on the challenge (challenge.redeemed) at its exact version: it happens once, within 5 minutes of the approval; a second exchange gets 409 challenge_redeemed.",
		Errors:      []int{400, 403, 404, 409, 410, 422},
	}, func(ctx context.Context, in *loginInput) (*signInOutput, error) {
		st, err := s.cfg.App.ChallengeStatus(ctx, in.ID)
		if err != nil {
			return nil, s.fail(err)
		}
		if err := refusalOf(outcomeOf(st)); err != nil {
			return nil, err
		}
		return s.exchange(ctx, in.ID, st.AccountID)
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "login-code", Method: http.MethodPost, Path: "/v1/logins/{id}/code", Middlewares: loginAuth, Tags: []string{"logins"},
		Summary:     "Complete a sign-in with a code instead of the push",
		Description: "A 6-digit code of the app (offline code of a linked device, or a TOTP app) or a backup code. With purpose session (the default) the passed challenge is exchanged for the session cookie at once; with step_up it is left for the step that asked for it.",
		Errors:      []int{400, 403, 404, 409, 410, 422, 429},
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
		if in.Body.Purpose == "step_up" {
			return &signInOutput{Status: http.StatusOK, Body: signInBody{Status: "passed", AccountID: st.AccountID}}, nil
		}
		return s.exchange(ctx, in.ID, st.AccountID)
	})
}

// exchange spends a passed challenge on a new session of account and answers its cookie. The
// session is made first and sent only once the challenge is spent on it; the event names it
// by the SHA-256 of its ID, as a sign-out does.
func (s *Server) exchange(ctx context.Context, id, account uuid.UUID) (*signInOutput, error) {
	sess, out := s.sessionOutput(humaCtx(ctx), account)
	digest := sha256.Sum256(sess.ID[:])
	if err := s.cfg.App.RedeemChallenge(ctx, id, account, domain.RedeemSession, digest[:]); err != nil {
		return nil, s.fail(err)
	}
	if err := s.startSession(ctx, sess, id); err != nil {
		return nil, err
	}
	return out, nil
}

// outcomeOf is the outcome a challenge's status states, or nil while it is pending.
func outcomeOf(st projections.ChallengeStatus) *push.Outcome {
	if !st.State.Final() {
		return nil
	}
	o := wire.NewOutcome(st.ChallengeID, st.State.Outcome(), st.DecidedBy, st.DecidedAt)
	return &o
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
	if o == nil {
		return apierror.New(409, "challenge_pending", "The sign-in has not been approved yet.")
	}
	switch out := o.Result(); {
	case out.Passed():
		return nil
	case out == domain.OutcomeExpired:
		return apierror.New(410, "challenge_expired", "This sign-in request has expired.")
	case out == domain.OutcomeDenied:
		return apierror.New(409, "challenge_denied", "The sign-in was denied on the device.")
	case out == domain.OutcomeFraudReported:
		return apierror.New(409, "challenge_fraud_reported", "The sign-in was reported as not made by the account holder.")
	default:
		return apierror.New(409, "challenge_"+o.Status, "This sign-in request can no longer be used.")
	}
}
