package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/medama-io/go-useragent"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
)

// SessionItem is a signed-in session of the account.
type SessionItem struct {
	ID        string    `json:"id" doc:"The session's name in the API: the hex SHA-256 of its secret ID"`
	Current   bool      `json:"current" doc:"This is the session of the request"`
	Browser   string    `json:"browser" doc:"Browser and system, as its User-Agent tells them, e.g. \"Firefox on Linux\""`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip" doc:"The address it signed in from"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen_at" doc:"Its last use, to the quarter of an hour"`
	LastIP    string    `json:"last_ip" doc:"The address of its last recorded use"`
	ExpiresAt time.Time `json:"expires_at"`
}

type sessionsOutput struct {
	Body struct {
		Sessions []SessionItem `json:"sessions"`
	}
}

type sessionIDInput struct {
	ID string `path:"id" minLength:"64" maxLength:"64" pattern:"^[0-9a-f]{64}$" doc:"A session's id from the list"`
}

type endSessionOutput struct {
	SetCookie *http.Cookie `header:"Set-Cookie" doc:"Clears the cookie when the session ended is the request's own"`
}

type changePasswordInput struct {
	Body struct {
		Current string `json:"current_password" maxLength:"1024" doc:"The password in use"`
		New     string `json:"new_password" maxLength:"1024" doc:"The new password, 8 to 1024 characters"`
	}
}

type renameInput struct {
	ID   uuid.UUID `path:"id"`
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"64" doc:"1 to 64 printable characters"`
	}
}

type totpAppInput struct {
	ID uuid.UUID `path:"id"`
}

var agents = sync.OnceValue(useragent.NewParser)

// browserOf describes a User-Agent in a few words: "Firefox on Linux", or "Unknown browser".
func browserOf(ua string) string {
	a := agents().Parse(ua)
	b, os := a.GetBrowser(), a.GetOS()
	switch {
	case b != "" && os != "":
		return b + " on " + os
	case b != "":
		return b
	case os != "":
		return "A browser on " + os
	}
	return "Unknown browser"
}

// errWrongPassword is a change of password whose current password is not right: the session
// is fine, so it is not the 401 of a sign-in.
var errWrongPassword = apierror.New(422, "wrong_password", "The current password is not right.")

func (s *Server) registerSelfService() {
	authed := func(op huma.Operation) huma.Operation {
		op.Tags = []string{"security"}
		op.Security = sessionSecurity
		op.Middlewares = huma.Middlewares{s.requireSession}
		op.Errors = append([]int{401, 403}, op.Errors...)
		return op
	}
	huma.Register(s.api, authed(huma.Operation{
		OperationID: "list-sessions", Method: http.MethodGet, Path: "/v1/security/sessions",
		Summary:     "The account's signed-in sessions: browser, address, started, last seen",
		Description: "Sessions that have not expired, newest first. Sessions begun before the server recorded sessions are not listed.",
	}), func(ctx context.Context, _ *struct{}) (*sessionsOutput, error) {
		sess := session(ctx)
		list, err := s.cfg.App.Sessions(ctx, sess.AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		current := sha256.Sum256(sess.ID[:])
		out := &sessionsOutput{}
		out.Body.Sessions = make([]SessionItem, 0, len(list))
		for _, v := range list {
			out.Body.Sessions = append(out.Body.Sessions, SessionItem{
				ID: hex.EncodeToString(v.Digest[:]), Current: v.Digest == current, Browser: browserOf(v.UserAgent), UserAgent: v.UserAgent,
				IP: v.IP, StartedAt: v.StartedAt, LastSeen: v.LastSeen, LastIP: v.LastIP, ExpiresAt: v.Expires,
			})
		}
		return out, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "end-session", Method: http.MethodDelete, Path: "/v1/security/sessions/{id}",
		Summary:       "End one session of the account, on every node",
		Description:   "Ending the request's own session signs it out and clears its cookie.",
		DefaultStatus: http.StatusNoContent, Errors: []int{404, 422},
	}), func(ctx context.Context, in *sessionIDInput) (*endSessionOutput, error) {
		sess := session(ctx)
		raw, err := hex.DecodeString(in.ID)
		if err != nil || len(raw) != sha256.Size {
			return nil, s.fail(domain.ErrSessionNotFound)
		}
		digest := [sha256.Size]byte(raw)
		if err := s.cfg.App.EndSession(ctx, sess.AccountID, digest); err != nil {
			return nil, s.fail(err)
		}
		out := &endSessionOutput{}
		if digest == sha256.Sum256(sess.ID[:]) {
			out.SetCookie = s.cfg.Sessions.Clear(s.secureCookies(humaCtx(ctx)))
		}
		return out, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "end-other-sessions", Method: http.MethodDelete, Path: "/v1/security/sessions",
		Summary:       "End every session of the account but this one",
		DefaultStatus: http.StatusNoContent,
	}), func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.EndOtherSessions(ctx, session(ctx).AccountID, s.keepThisSession(ctx)))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "change-password", Method: http.MethodPost, Path: "/v1/security/password",
		Summary:       "Change the password, and end every other session of the account",
		Description:   "The current password is checked like a sign-in's (422 wrong_password; wrong ones count toward the sign-in lock); the new one follows registration's rule (422 invalid_password).",
		DefaultStatus: http.StatusNoContent, Errors: []int{422, 429},
	}), func(ctx context.Context, in *changePasswordInput) (*struct{}, error) {
		sess := session(ctx)
		v, err := s.cfg.App.Account(ctx, sess.AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		if err := s.limitPassword(clientIP(humaCtx(ctx)), v.Email); err != nil {
			return nil, err
		}
		err = s.cfg.App.ChangePassword(ctx, sess.AccountID, in.Body.Current, in.Body.New, s.keepThisSession(ctx))
		if errors.Is(err, app.ErrInvalidCredentials) {
			return nil, errWrongPassword
		}
		return nil, s.fail(err)
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "rename-device", Method: http.MethodPatch, Path: "/v1/security/devices/{id}",
		Summary:       "Name a linked device anew, as this account shows it",
		DefaultStatus: http.StatusNoContent, Errors: []int{422},
	}), func(ctx context.Context, in *renameInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.RenameDevice(ctx, session(ctx).AccountID, in.ID, strings.TrimSpace(in.Body.Name)))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "rename-totp-app", Method: http.MethodPatch, Path: "/v1/security/totp-apps/{id}",
		Summary:       "Name an authenticator app anew",
		DefaultStatus: http.StatusNoContent, Errors: []int{404, 422},
	}), func(ctx context.Context, in *renameInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.RenameTOTPApp(ctx, session(ctx).AccountID, in.ID, strings.TrimSpace(in.Body.Name)))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "remove-totp-app", Method: http.MethodDelete, Path: "/v1/security/totp-apps/{id}",
		Summary:       "Remove one authenticator app: its codes no longer count",
		Description:   "The account's last second factor is not removed while 2FA is on (409 last_second_factor).",
		DefaultStatus: http.StatusNoContent, Errors: []int{404, 409},
	}), func(ctx context.Context, in *totpAppInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.RemoveTOTPApp(ctx, session(ctx).AccountID, in.ID))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "resume-push", Method: http.MethodPost, Path: "/v1/security/push/resume",
		Summary:       "Resume pushes paused by \"This wasn't me\", with a fresh second factor",
		Description:   "challenge_id is a challenge of this account that passed within the last minutes, by a code (pushes are paused): sign in again with purpose step_up to get one. 409 push_not_paused when there is nothing to resume.",
		DefaultStatus: http.StatusNoContent, Errors: []int{404, 409, 429},
	}), func(ctx context.Context, in *disableInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.ResumePush(ctx, session(ctx).AccountID, in.Body.ChallengeID))
	})
}

// keepThisSession is the cut that ends every session of the account but the request's own:
// until the newest of them, begun now, would expire.
func (s *Server) keepThisSession(ctx context.Context) domain.EndSessions {
	sess := session(ctx)
	d := sha256.Sum256(sess.ID[:])
	return domain.EndSessions{KeepDigest: d[:], Until: s.cfg.Now().Add(s.cfg.Sessions.TTL() + time.Second)}
}
