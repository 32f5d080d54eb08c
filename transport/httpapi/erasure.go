package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
)

func init() {
	apierror.Add(app.ErrErasureUnavailable, 409, "erasure_unavailable", "This server's event store keeps no account keys, so an account cannot be erased here (see docs/erasure.md).")
	apierror.Add(domain.ErrAccountErased, 404, "account_erased", "This account was erased.")
}

// registerErasure serves "delete my account" (the person, with a fresh second factor) and, when
// administrator credentials are configured, the help desk's erasure (docs/erasure.md).
func (s *Server) registerErasure() {
	huma.Register(s.api, huma.Operation{
		OperationID: "erase-own-account", Method: http.MethodPost, Path: "/v1/security/erase",
		Tags: []string{"security"}, Security: sessionSecurity, Middlewares: huma.Middlewares{s.requireSession},
		Summary: "Delete my account: its personal data becomes unreadable everywhere, for good",
		Description: "With 2FA on, challenge_id is a challenge of this account that passed within the last minutes (sign in again with purpose step_up to get one); " +
			"with 2FA off, the password is asked again. The account's key is destroyed, its devices are unlinked, every session ends; " +
			"its email, addresses, browsers and names can no longer be read in the log, its copies or its backups. The address may be registered again.",
		DefaultStatus: http.StatusOK, Errors: []int{401, 403, 404, 409, 422, 429},
	}, func(ctx context.Context, in *eraseOwnInput) (*eraseOutput, error) {
		src := domain.SourceOfIP(clientIP(humaCtx(ctx)))
		er, err := s.cfg.App.EraseOwnAccount(ctx, session(ctx).AccountID, in.Body.ChallengeID, in.Body.Password, src)
		if err != nil {
			return nil, s.fail(err)
		}
		return erasureOutput(er), nil
	})

	if s.cfg.Admins == nil {
		return
	}
	huma.Register(s.api, huma.Operation{
		OperationID: "admin-erase", Method: http.MethodPost, Path: "/v1/admin/accounts/{account}/erase",
		Tags: []string{"help desk"}, Security: adminSecurity, Middlewares: huma.Middlewares{s.requireAdmin},
		Summary: "Erase an account: its personal data becomes unreadable everywhere, for good",
		Description: "The account's key is destroyed and account.erased names the administrator and the reason (which stays readable: write no personal data in it). " +
			"Devices are unlinked, every session ends, every read model drops the account. clear_events counts the account's events written before personal fields were sealed, " +
			"whose stored bytes still hold them (docs/erasure.md).",
		Errors: []int{401, 403, 404, 409, 422},
	}, func(ctx context.Context, in *adminActInput) (*eraseOutput, error) {
		id, act, err := s.helpDeskTarget(ctx, in.Account, in.Body.Reason)
		if err != nil {
			return nil, err
		}
		er, err := s.cfg.App.EraseAccount(ctx, id, act)
		if err != nil {
			return nil, s.fail(err)
		}
		return erasureOutput(er), nil
	})
}

type eraseOwnInput struct {
	Body struct {
		ChallengeID uuid.UUID `json:"challenge_id,omitempty" doc:"With 2FA on: a challenge of this account that passed within the last minutes"`
		Password    string    `json:"password,omitempty" maxLength:"1024" doc:"With 2FA off: the account's password"`
	}
}

type eraseOutput struct {
	Body struct {
		AccountID   uuid.UUID `json:"account_id"`
		ErasedAt    time.Time `json:"erased_at"`
		ClearEvents int       `json:"clear_events" doc:"The account's events written before personal fields were sealed: reads blank them, their stored bytes keep them"`
	}
}

func erasureOutput(er app.Erasure) *eraseOutput {
	out := &eraseOutput{}
	out.Body.AccountID, out.Body.ErasedAt, out.Body.ClearEvents = er.AccountID, er.At.UTC(), er.ClearEvents
	return out
}
