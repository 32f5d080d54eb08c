package httpapi

import (
	"context"
	"crypto/sha256"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/websession"
)

type credentials struct {
	Email    string `json:"email" maxLength:"320" doc:"The account's email address" example:"ada@example.com"`
	Password string `json:"password" maxLength:"1024" doc:"The account's password"`
}

type registerInput struct {
	Body credentials
}

type registerOutput struct {
	Status int
	Body   struct {
		AccountID uuid.UUID `json:"account_id"`
	}
}

type signInInput struct {
	UserAgent string `header:"User-Agent"`
	Body      credentials
}

// ChallengeInfo is a pending sign-in as the login page shows it.
type ChallengeInfo struct {
	ID        uuid.UUID `json:"id"`
	Number    string    `json:"number" doc:"The two digits the person types on their device" example:"42"`
	ExpiresAt time.Time `json:"expires_at"`
	Devices   int       `json:"devices" doc:"How many devices the request was pushed to; 0 means: ask for a code"`
	PushMuted bool      `json:"push_muted,omitempty" doc:"Pushes are muted after a fraud report: use a code"`
}

type signInBody struct {
	Status    string         `json:"status" enum:"signed_in,challenge,passed" doc:"signed_in: a session cookie is set; challenge: approve on the device or type a code; passed: a code passed the challenge for a step-up (POST /v1/logins/{id}/code with purpose step_up)"`
	AccountID uuid.UUID      `json:"account_id"`
	CSRFToken string         `json:"csrf_token,omitempty" doc:"Send it as X-CSRF-Token with every state-changing request of the session"`
	Challenge *ChallengeInfo `json:"challenge,omitempty"`
	// LoginToken binds the pending sign-in to this browser.
	LoginToken string `json:"login_token,omitempty" doc:"The secret with which only this browser may await and redeem the challenge"`
	// EnrollmentRequired: the help desk reset the second factor; the session is for setting up
	// a new one, by EnrollBy (OpenID Connect refuses it until one is on).
	EnrollmentRequired bool       `json:"enrollment_required,omitempty" doc:"The help desk reset the second factor: set up a new one on the security page, by enroll_by"`
	EnrollBy           *time.Time `json:"enroll_by,omitempty"`
}

type signInOutput struct {
	Status    int
	SetCookie *http.Cookie `header:"Set-Cookie"`
	Body      signInBody
}

type sessionOutput struct {
	Body struct {
		AccountID uuid.UUID `json:"account_id"`
		Email     string    `json:"email"`
		CSRFToken string    `json:"csrf_token"`
		Expires   time.Time `json:"expires"`
		// Notices tell what the help desk did to the account since the person last marked
		// them read (POST /v1/session/notices/seen).
		Notices            []noticeBody `json:"notices" doc:"What the help desk did to the account, until marked read"`
		EnrollmentRequired bool         `json:"enrollment_required,omitempty" doc:"The help desk reset the second factor: set up a new one, by enroll_by"`
		EnrollBy           *time.Time   `json:"enroll_by,omitempty"`
	}
}

type signOutOutput struct {
	SetCookie *http.Cookie `header:"Set-Cookie"`
}

func (s *Server) registerAccounts() {
	huma.Register(s.api, huma.Operation{
		OperationID: "register", Method: http.MethodPost, Path: "/v1/accounts", Tags: []string{"accounts"},
		Summary: "Register with email and password", DefaultStatus: http.StatusCreated,
		Errors: []int{409, 422, 429},
	}, func(ctx context.Context, in *registerInput) (*registerOutput, error) {
		hctx := humaCtx(ctx)
		if err := s.limit(s.limits.signInIP, "register:"+clientIP(hctx)); err != nil {
			return nil, err
		}
		id, err := s.cfg.App.Register(ctx, in.Body.Email, in.Body.Password)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &registerOutput{Status: http.StatusCreated}
		out.Body.AccountID = id
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "sign-in", Method: http.MethodPost, Path: "/v1/sessions", Tags: []string{"accounts"},
		Summary:     "Sign in with email and password",
		Description: "Without 2FA the password is enough and a session cookie is set. With 2FA a challenge is issued and pushed to the linked devices: the login page shows its number and awaits its result.",
		Errors:      []int{401, 422, 429},
		Responses: map[string]*huma.Response{
			"202": {Description: "A challenge was issued: approve it on a device, or type a code.", Content: map[string]*huma.MediaType{
				"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[signInBody](), true, "")}}},
		},
	}, func(ctx context.Context, in *signInInput) (*signInOutput, error) {
		hctx := humaCtx(ctx)
		ip := clientIP(hctx)
		if err := s.limitPassword(ip, in.Body.Email); err != nil {
			return nil, err
		}
		lc := domain.LoginContext{UserAgent: in.UserAgent, IP: ip, At: s.cfg.Now().UTC().Truncate(time.Second)}
		res, err := s.cfg.App.SignIn(ctx, in.Body.Email, in.Body.Password, lc)
		if err != nil {
			return nil, s.fail(err)
		}
		s.passwordPassed(ip, in.Body.Email)
		out, err := s.signInOutput(ctx, res.AccountID, res.Challenge)
		if err != nil {
			return nil, err
		}
		if res.EnrollmentRequired {
			by := res.EnrollBy.UTC()
			out.Body.EnrollmentRequired, out.Body.EnrollBy = true, &by
		}
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "get-session", Method: http.MethodGet, Path: "/v1/session", Tags: []string{"accounts"},
		Summary: "The signed-in account and the session's CSRF token", Security: sessionSecurity,
		Middlewares: huma.Middlewares{s.requireSession}, Errors: []int{401},
	}, func(ctx context.Context, _ *struct{}) (*sessionOutput, error) {
		sess := session(ctx)
		v, err := s.cfg.App.Account(ctx, sess.AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &sessionOutput{}
		out.Body.AccountID = sess.AccountID
		out.Body.Email = v.Email
		out.Body.CSRFToken = s.cfg.Sessions.CSRFToken(sess)
		out.Body.Expires = sess.Expires
		st, err := s.cfg.App.Standing(ctx, sess.AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out.Body.Notices = noticesOf(st.Notices)
		if st.EnrollmentRequired {
			by := st.EnrollBy.UTC()
			out.Body.EnrollmentRequired, out.Body.EnrollBy = true, &by
		}
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "sign-out", Method: http.MethodDelete, Path: "/v1/session", Tags: []string{"accounts"},
		Summary: "Sign out", Security: sessionSecurity, DefaultStatus: http.StatusNoContent,
		Middlewares: huma.Middlewares{s.requireSession}, Errors: []int{401, 403},
	}, func(ctx context.Context, _ *struct{}) (*signOutOutput, error) {
		sess := session(ctx)
		if err := s.cfg.App.SignOut(ctx, sess.AccountID, sess.ID, sess.Expires); err != nil {
			return nil, s.fail(err)
		}
		return &signOutOutput{SetCookie: s.cfg.Sessions.Clear(s.secureCookies(humaCtx(ctx)))}, nil
	})
}

// signInOutput is a session when there is no challenge, else the challenge and its login token.
func (s *Server) signInOutput(ctx context.Context, account uuid.UUID, ch *app.IssuedChallenge) (*signInOutput, error) {
	if ch == nil {
		sess, out := s.sessionOutput(humaCtx(ctx), account)
		if err := s.startSession(ctx, sess, uuid.Nil); err != nil {
			return nil, err
		}
		return out, nil
	}
	return &signInOutput{Status: http.StatusAccepted, Body: signInBody{
		Status: "challenge", AccountID: account, Challenge: challengeInfo(ch), LoginToken: s.cfg.Sessions.LoginToken(ch.ID),
	}}, nil
}

// maxUserAgent is how much of a browser's User-Agent a session records.
const maxUserAgent = 256

// startSession records a new session (session.started), with the browser and the address it
// began from and the challenge it was redeemed from, so that the account can list and end it.
func (s *Server) startSession(ctx context.Context, sess websession.Session, challenge uuid.UUID) error {
	hctx := humaCtx(ctx)
	ua := hctx.Header("User-Agent")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	digest := sha256.Sum256(sess.ID[:])
	err := s.cfg.App.StartSession(ctx, domain.StartSession{
		AccountID: sess.AccountID, SessionDigest: digest[:], ChallengeID: challenge,
		IP: clientIP(hctx), UserAgent: ua, Expires: sess.Expires,
	})
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// sessionOutput issues a new session of account and the answer that sets its cookie.
func (s *Server) sessionOutput(hctx huma.Context, account uuid.UUID) (websession.Session, *signInOutput) {
	sess, cookie := s.cfg.Sessions.Issue(account, s.cfg.Now(), s.secureCookies(hctx))
	return sess, &signInOutput{Status: http.StatusOK, SetCookie: cookie, Body: signInBody{
		Status: "signed_in", AccountID: account, CSRFToken: s.cfg.Sessions.CSRFToken(sess),
	}}
}

func challengeInfo(ch *app.IssuedChallenge) *ChallengeInfo {
	return &ChallengeInfo{ID: ch.ID, Number: domain.MatchNumber(ch.Number).String(), ExpiresAt: ch.ExpiresAt, Devices: ch.Devices, PushMuted: ch.PushMuted}
}

type humaCtxKey struct{}

// humaCtx returns the huma.Context of a request, which a router-level middleware stores in
// the request's context.
func humaCtx(ctx context.Context) huma.Context {
	hc, _ := ctx.Value(humaCtxKey{}).(huma.Context)
	return hc
}

// errSignInFirst is returned where a login token is missing or wrong.
var errBadLoginToken = apierror.New(http.StatusForbidden, "login_token_invalid", "This sign-in belongs to another browser.")
