package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
)

// Refusals of the help desk's routes.
var (
	adminUnknown = apierror.New(401, "admin_unauthenticated", "Send an administrator token as 'Authorization: Bearer "+admins.TokenPrefix+"…'.")
)

func init() {
	apierror.Add(app.ErrNoSuchAccount, 404, "account_not_found", "No account has this email address or ID.")
	apierror.Add(app.ErrInvalidBypassCodes, 422, "invalid_bypass_codes", "Ask for 1 to 10 codes, valid from 60 seconds to 30 days.")
	apierror.Add(app.ErrEnrollmentRequired, 403, "enrollment_required", "Set up a new second factor on the security page first.")
}

const adminKey ctxKey = 30

var adminSecurity = []map[string][]string{{"admin": {}}}

// registerHelpDesk serves the help desk's routes under /v1/admin when administrator
// credentials are configured, and the person's side (their notices) always.
func (s *Server) registerHelpDesk() {
	huma.Register(s.api, huma.Operation{
		OperationID: "mark-notices-seen", Method: http.MethodPost, Path: "/v1/session/notices/seen", Tags: []string{"accounts"},
		Summary:     "Mark the help desk's notices read",
		Description: "The notices (GET /v1/session) stop being shown once marked read.",
		Security:    sessionSecurity, Middlewares: huma.Middlewares{s.requireSession}, DefaultStatus: http.StatusNoContent, Errors: []int{401, 403},
	}, func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		if err := s.cfg.App.MarkNoticesSeen(ctx, session(ctx).AccountID); err != nil {
			return nil, s.fail(err)
		}
		return nil, nil
	})

	if s.cfg.Admins == nil {
		return
	}
	s.api.OpenAPI().Components.SecuritySchemes["admin"] = &huma.SecurityScheme{Type: "http", Scheme: "bearer",
		Description: "A help-desk administrator's token (asadm_…), created with `assent admin token create`. An auditor's token is refused."}
	op := func(id, path, summary, description string) huma.Operation {
		return huma.Operation{OperationID: id, Method: http.MethodPost, Path: path, Summary: summary, Description: description,
			Tags: []string{"help desk"}, Security: adminSecurity, Middlewares: huma.Middlewares{s.requireAdmin},
			Errors: []int{401, 403, 404, 409, 422}}
	}

	huma.Register(s.api, huma.Operation{OperationID: "admin-account", Method: http.MethodGet, Path: "/v1/admin/accounts/{account}",
		Summary:     "What the help desk sees of an account before acting",
		Description: "Whether the second factor is on, how many devices and codes, the locks in force (the second factor's and each network's sign-in lock), whether the account is disabled or must set up a new second factor. No secret, and not the person's history.",
		Tags:        []string{"help desk"}, Security: adminSecurity, Middlewares: huma.Middlewares{s.requireAdmin}, Errors: []int{401, 404}},
		func(ctx context.Context, in *adminAccountInput) (*adminAccountOutput, error) {
			id, err := s.cfg.App.FindAccount(ctx, in.Account)
			if err != nil {
				return nil, s.fail(err)
			}
			v, err := s.cfg.App.HelpDeskAccount(ctx, id)
			if err != nil {
				return nil, s.fail(err)
			}
			out := &adminAccountOutput{}
			b := &out.Body
			b.AccountID, b.Email, b.Username, b.MFAEnabled, b.Devices = v.AccountID, v.Email, v.Username, v.MFAEnabled, v.Devices
			b.BackupCodesLeft, b.BypassCodesLeft, b.Disabled, b.EnrollmentRequired = v.BackupCodesLeft, v.BypassCodesLeft, v.Disabled, v.EnrollmentRequired
			b.SignInLocks = []adminSignInLock{}
			for _, l := range v.SignInLocks {
				b.SignInLocks = append(b.SignInLocks, adminSignInLock{Source: string(l.Source), Until: l.Until.UTC()})
			}
			if !v.LockedUntil.IsZero() {
				u := v.LockedUntil.UTC()
				b.LockedUntil = &u
			}
			if v.EnrollmentRequired {
				u := v.EnrollBy.UTC()
				b.EnrollBy = &u
			}
			return out, nil
		})

	huma.Register(s.api, op("admin-bypass-codes", "/v1/admin/accounts/{account}/bypass-codes",
		"Issue bypass codes to a person without their second factor",
		"The codes are shown once, in this answer; the log keeps keyed hashes. Each works once on the sign-in page's code form, like a backup code, until it expires. They replace earlier bypass codes, not the backup codes."),
		func(ctx context.Context, in *adminBypassInput) (*adminBypassOutput, error) {
			id, act, err := s.helpDeskTarget(ctx, in.Account, in.Body.Reason)
			if err != nil {
				return nil, err
			}
			codes, expires, err := s.cfg.App.HelpDeskBypassCodes(ctx, id, act, in.Body.Count, time.Duration(in.Body.ValidForSeconds)*time.Second)
			if err != nil {
				return nil, s.fail(err)
			}
			out := &adminBypassOutput{}
			out.Body.AccountID, out.Body.Codes, out.Body.ExpiresAt = id, codes, expires.UTC()
			return out, nil
		})

	huma.Register(s.api, op("admin-reset-second-factor", "/v1/admin/accounts/{account}/second-factor/reset",
		"Reset a person's second factor",
		"Every device is unlinked, authenticator apps, backup codes and bypass codes are revoked, every session ends. The next sign-in goes straight to setting up a new second factor, which must be done by enroll_by; after it the password alone no longer signs in."),
		func(ctx context.Context, in *adminResetInput) (*adminResetOutput, error) {
			id, act, err := s.helpDeskTarget(ctx, in.Account, in.Body.Reason)
			if err != nil {
				return nil, err
			}
			by, err := s.cfg.App.ResetSecondFactor(ctx, id, act, time.Duration(in.Body.EnrollWithinSeconds)*time.Second)
			if err != nil {
				return nil, s.fail(err)
			}
			out := &adminResetOutput{}
			out.Body.AccountID, out.Body.EnrollBy = id, by.UTC()
			return out, nil
		})

	for _, a := range []struct {
		id, path, summary, description, done string
		run                                  func(context.Context, uuid.UUID, domain.HelpDeskAct) error
	}{
		{"admin-unlock", "/v1/admin/accounts/{account}/unlock", "Unlock a locked account",
			"Lifts the lock of the second factor and every network's sign-in lock, and clears the failures counted toward them.", "unlocked", s.cfg.App.UnlockAccount},
		{"admin-disable", "/v1/admin/accounts/{account}/disable", "Disable an account",
			"The account can no longer sign in or pass a second factor, on the pages, through the Duo-compatible API or OpenID Connect; every session it has ends.", "disabled", s.cfg.App.DisableAccount},
		{"admin-enable", "/v1/admin/accounts/{account}/enable", "Enable a disabled account",
			"The sessions the disabling ended stay ended.", "enabled", s.cfg.App.EnableAccount},
	} {
		huma.Register(s.api, op(a.id, a.path, a.summary, a.description),
			func(ctx context.Context, in *adminActInput) (*adminActOutput, error) {
				id, act, err := s.helpDeskTarget(ctx, in.Account, in.Body.Reason)
				if err != nil {
					return nil, err
				}
				if err := a.run(ctx, id, act); err != nil {
					return nil, s.fail(err)
				}
				out := &adminActOutput{}
				out.Body.AccountID, out.Body.Done = id, a.done
				return out, nil
			})
	}
}

// helpDeskTarget resolves the account named in the path and the act of the signed-in
// administrator.
func (s *Server) helpDeskTarget(ctx context.Context, ref, reason string) (uuid.UUID, domain.HelpDeskAct, error) {
	name, _ := ctx.Value(adminKey).(string)
	act := domain.HelpDeskAct{By: name, Reason: reason}
	id, err := s.cfg.App.FindAccount(ctx, ref)
	if err != nil {
		return uuid.Nil, act, s.fail(err)
	}
	return id, act, nil
}

// requireAdmin admits requests with a valid administrator bearer token.
func (s *Server) requireAdmin(ctx huma.Context, next func(huma.Context)) {
	token, ok := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	if !ok {
		s.writeHuma(ctx, adminUnknown)
		return
	}
	name, err := s.cfg.Admins.Authenticate(strings.TrimSpace(token))
	if err != nil {
		s.writeHuma(ctx, adminUnknown)
		return
	}
	next(huma.WithValue(ctx, adminKey, name))
}

// The account in the path and the reason in the body are fields of every input (huma does
// not take them from embedded structs). The reason is optional in the schema so that a
// missing one is refused like an empty one, with the code reason_required.

type adminActInput struct {
	Account string `path:"account" maxLength:"320" doc:"The account's ID or its email address"`
	Body    struct {
		Reason string `json:"reason,omitempty" maxLength:"2000" doc:"Why, in words: how the person's identity was checked, the ticket. Required; recorded in the log with the administrator's name"`
	}
}

type adminActOutput struct {
	Body struct {
		AccountID uuid.UUID `json:"account_id"`
		Done      string    `json:"done" enum:"unlocked,disabled,enabled"`
	}
}

type adminBypassInput struct {
	Account string `path:"account" maxLength:"320" doc:"The account's ID or its email address"`
	Body    struct {
		Reason          string `json:"reason,omitempty" maxLength:"2000" doc:"Why, in words: how the person's identity was checked, the ticket. Required; recorded in the log with the administrator's name"`
		Count           int    `json:"count,omitempty" default:"5" doc:"How many codes, 1 to 10"`
		ValidForSeconds int64  `json:"valid_for_seconds,omitempty" default:"3600" doc:"How long the codes work, 60 s to 30 days"`
	}
}

type adminBypassOutput struct {
	Body struct {
		AccountID uuid.UUID `json:"account_id"`
		Codes     []string  `json:"codes" doc:"Shown once: give them to the person now"`
		ExpiresAt time.Time `json:"expires_at"`
	}
}

type adminResetInput struct {
	Account string `path:"account" maxLength:"320" doc:"The account's ID or its email address"`
	Body    struct {
		Reason              string `json:"reason,omitempty" maxLength:"2000" doc:"Why, in words: how the person's identity was checked, the ticket. Required; recorded in the log with the administrator's name"`
		EnrollWithinSeconds int64  `json:"enroll_within_seconds,omitempty" default:"259200" doc:"How long the person has to set up a new second factor, 1 hour to 30 days"`
	}
}

type adminResetOutput struct {
	Body struct {
		AccountID uuid.UUID `json:"account_id"`
		EnrollBy  time.Time `json:"enroll_by"`
	}
}

// noticeBody is one help-desk notice as the person sees it.
type noticeBody struct {
	Action string     `json:"action" enum:"bypass_codes_issued,second_factor_reset,unlocked,disabled,enabled"`
	At     time.Time  `json:"at"`
	Until  *time.Time `json:"until,omitempty" doc:"When the bypass codes expire, or the last moment to set up a new second factor"`
}

func noticesOf(ns []domain.Notice) []noticeBody {
	out := make([]noticeBody, 0, len(ns))
	for _, n := range ns {
		b := noticeBody{Action: n.Action.String(), At: n.At.UTC()}
		if !n.Until.IsZero() {
			u := n.Until.UTC()
			b.Until = &u
		}
		out = append(out, b)
	}
	return out
}

type adminAccountInput struct {
	Account string `path:"account" maxLength:"320" doc:"The account's ID or its email address"`
}

type adminSignInLock struct {
	Source string    `json:"source" doc:"ip:ADDRESS, ip:PREFIX/64 or session"`
	Until  time.Time `json:"until"`
}

type adminAccountOutput struct {
	Body struct {
		AccountID          uuid.UUID         `json:"account_id"`
		Email              string            `json:"email,omitempty"`
		Username           string            `json:"username,omitempty" doc:"For a user of a Duo-compatible integration"`
		MFAEnabled         bool              `json:"mfa_enabled"`
		Devices            int               `json:"devices"`
		BackupCodesLeft    int               `json:"backup_codes_left"`
		BypassCodesLeft    int               `json:"bypass_codes_left"`
		LockedUntil        *time.Time        `json:"locked_until,omitempty" doc:"The second factor's lock in force"`
		SignInLocks        []adminSignInLock `json:"signin_locks" doc:"The networks whose passwords are locked out of the account now"`
		Disabled           bool              `json:"disabled"`
		EnrollmentRequired bool              `json:"enrollment_required"`
		EnrollBy           *time.Time        `json:"enroll_by,omitempty"`
	}
}
