package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/transport/push"
)

// SecurityView is the security page's state of the signed-in account.
type SecurityView struct {
	AccountID       uuid.UUID     `json:"account_id"`
	Email           string        `json:"email"`
	MFAEnabled      bool          `json:"mfa_enabled"`
	Devices         []DeviceItem  `json:"devices"`
	TOTPApps        []TOTPAppItem `json:"totp_apps"`
	BackupCodesLeft int           `json:"backup_codes_left"`
	LockedUntil     time.Time     `json:"locked_until,omitzero"`
	MutedUntil      time.Time     `json:"muted_until,omitzero"`
}

// DeviceItem is a linked device.
type DeviceItem struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Method   string    `json:"method" enum:"computer,phone"`
	LinkedAt time.Time `json:"linked_at"`
}

// TOTPAppItem is a standard authenticator app.
type TOTPAppItem struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Confirmed bool      `json:"confirmed"`
	AddedAt   time.Time `json:"added_at"`
}

type securityOutput struct{ Body SecurityView }

type enrollmentOutput struct {
	Status int
	Body   struct {
		Link      string    `json:"link" doc:"The single-use enrollment link the device opens"`
		Token     string    `json:"token" doc:"The token inside the link"`
		ExpiresAt time.Time `json:"expires_at"`
		QR        QRCode    `json:"qr"`
	}
}

type totpAppOutput struct {
	Status int
	Body   struct {
		ID         uuid.UUID `json:"id"`
		OTPAuthURI string    `json:"otpauth_uri" doc:"The otpauth:// URI: it holds the secret, show it once"`
		QR         QRCode    `json:"qr"`
	}
}

type confirmTOTPInput struct {
	ID   uuid.UUID `path:"id"`
	Body struct {
		Code string `json:"code" minLength:"6" maxLength:"8"`
	}
}

type backupCodesOutput struct {
	Body struct {
		Codes []string `json:"codes,omitempty" doc:"Backup codes to show once; empty when none were issued"`
	}
}

type backupCodesInput struct {
	Format string `query:"format" enum:"json,text" default:"json" doc:"text: a text/plain file to download"`
}

type deviceInput struct {
	ID uuid.UUID `path:"id"`
}

type disableInput struct {
	Body struct {
		ChallengeID uuid.UUID `json:"challenge_id" doc:"A challenge of this account that passed within the last minutes (sign in again to get one)"`
	}
}

func (s *Server) registerSecurity() {
	authed := func(op huma.Operation) huma.Operation {
		op.Tags = []string{"security"}
		op.Security = sessionSecurity
		op.Middlewares = huma.Middlewares{s.requireSession}
		op.Errors = append([]int{401, 403}, op.Errors...)
		return op
	}
	huma.Register(s.api, authed(huma.Operation{
		OperationID: "security", Method: http.MethodGet, Path: "/v1/security", Summary: "Methods, devices and backup codes of the account",
	}), func(ctx context.Context, _ *struct{}) (*securityOutput, error) {
		v, err := s.cfg.App.Account(ctx, session(ctx).AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out := SecurityView{AccountID: v.ID, Email: v.Email, MFAEnabled: v.MFAEnabled, BackupCodesLeft: v.BackupCodesLeft,
			LockedUntil: v.LockedUntil, MutedUntil: v.MutedUntil, Devices: []DeviceItem{}, TOTPApps: []TOTPAppItem{}}
		for _, d := range v.Devices {
			out.Devices = append(out.Devices, DeviceItem{ID: d.DeviceID, Name: d.Name, Method: d.Method, LinkedAt: d.LinkedAt})
		}
		for _, a := range v.TOTPApps {
			out.TOTPApps = append(out.TOTPApps, TOTPAppItem{ID: a.AppID, Name: a.Name, Confirmed: a.Confirmed, AddedAt: a.AddedAt})
		}
		return &securityOutput{Body: out}, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "start-enrollment", Method: http.MethodPost, Path: "/v1/security/enrollments",
		Summary: "Start linking a device: a single-use link and its QR code", DefaultStatus: http.StatusCreated, Errors: []int{409, 429},
	}), func(ctx context.Context, _ *struct{}) (*enrollmentOutput, error) {
		hctx := humaCtx(ctx)
		if err := s.limit(s.limits.enrollIP, "enroll:"+clientIP(hctx)); err != nil {
			return nil, err
		}
		token, exp, err := s.cfg.App.StartEnrollment(ctx, session(ctx).AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &enrollmentOutput{Status: http.StatusCreated}
		out.Body.Token, out.Body.ExpiresAt = token, exp
		out.Body.Link = s.baseURL(hctx) + "/enroll?token=" + url.QueryEscape(token)
		if out.Body.QR, err = NewQRCode(out.Body.Link); err != nil {
			return nil, s.fail(err)
		}
		return out, nil
	})

	sse.Register(s.api, authed(huma.Operation{
		OperationID: "security-events", Method: http.MethodGet, Path: "/v1/security/events",
		Summary: "Live news of the account for the security page (device linked, device unlinked)",
	}), map[string]any{"news": push.AccountNews{}}, func(ctx context.Context, _ *struct{}, send sse.Sender) {
		ctx, release := s.cfg.Hub.Stream(ctx) // ends the stream when the node shuts down
		defer release()
		news, stop := s.cfg.Hub.WatchAccount(session(ctx).AccountID)
		defer stop()
		if send(sse.Message{Data: push.AccountNews{Kind: "watching"}, Retry: 2000}) != nil {
			return
		}
		for {
			select {
			case n := <-news:
				if send(sse.Message{Data: n}) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "add-totp-app", Method: http.MethodPost, Path: "/v1/security/totp-apps",
		Summary: "Offer a standard authenticator app a secret (otpauth:// URI and QR code)", DefaultStatus: http.StatusCreated, Errors: []int{409},
	}), func(ctx context.Context, _ *struct{}) (*totpAppOutput, error) {
		uri, id, err := s.cfg.App.AddTOTPApp(ctx, session(ctx).AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &totpAppOutput{Status: http.StatusCreated}
		out.Body.ID, out.Body.OTPAuthURI = id, uri
		if out.Body.QR, err = NewQRCode(uri); err != nil {
			return nil, s.fail(err)
		}
		return out, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "confirm-totp-app", Method: http.MethodPost, Path: "/v1/security/totp-apps/{id}/confirm",
		Summary: "Confirm an authenticator app with its first code", Errors: []int{404, 409, 422, 429},
	}), func(ctx context.Context, in *confirmTOTPInput) (*backupCodesOutput, error) {
		if err := s.limit(s.limits.codesAccount, "code:"+session(ctx).AccountID.String()); err != nil {
			return nil, err
		}
		codes, err := s.cfg.App.ConfirmTOTPApp(ctx, session(ctx).AccountID, in.ID, strings.TrimSpace(in.Body.Code))
		if err != nil {
			return nil, s.fail(err)
		}
		out := &backupCodesOutput{}
		out.Body.Codes = codes
		return out, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "issue-backup-codes", Method: http.MethodPost, Path: "/v1/security/backup-codes",
		Summary:     "Issue a new set of 10 backup codes, revoking the old set",
		Description: "The codes are shown once. With format=text the answer is a text/plain file to download.",
		Errors:      []int{409},
		Responses: map[string]*huma.Response{"200": {Description: "The new codes", Content: map[string]*huma.MediaType{
			"application/json": {}, "text/plain": {Schema: &huma.Schema{Type: "string"}},
		}}},
	}), func(ctx context.Context, in *backupCodesInput) (*huma.StreamResponse, error) {
		codes, err := s.cfg.App.IssueBackupCodes(ctx, session(ctx).AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			if in.Format == "text" {
				hctx.SetHeader("Content-Type", "text/plain; charset=utf-8")
				hctx.SetHeader("Content-Disposition", `attachment; filename="assent-backup-codes.txt"`)
				fmt.Fprintf(hctx.BodyWriter(), "Assent backup codes, issued %s.\nEach code works once. Keep them somewhere safe.\n\n", s.cfg.Now().UTC().Format(time.RFC1123))
				for _, c := range codes {
					fmt.Fprintln(hctx.BodyWriter(), c)
				}
				return
			}
			hctx.SetHeader("Content-Type", "application/json")
			fmt.Fprintf(hctx.BodyWriter(), `{"codes":["%s"]}`, strings.Join(codes, `","`))
		}}, nil
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "remove-device", Method: http.MethodDelete, Path: "/v1/security/devices/{id}",
		Summary:       "Unlink one device: its socket is told, and it gets no more challenges for the account",
		Description:   "The account's last second factor is not unlinked while 2FA is on (409 last_second_factor): turning 2FA off removes it, with the password and a fresh second factor.",
		DefaultStatus: http.StatusNoContent, Errors: []int{404, 409},
	}), func(ctx context.Context, in *deviceInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.UnlinkDevice(ctx, session(ctx).AccountID, in.ID))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "remove-app-method", Method: http.MethodDelete, Path: "/v1/security/devices",
		Summary:       "Turn the app method off: unlink every device",
		Description:   "Refused while 2FA is on and no authenticator app is confirmed (409 last_second_factor): turning 2FA off removes the last second factor, with the password and a fresh second factor.",
		DefaultStatus: http.StatusNoContent, Errors: []int{409},
	}), func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.UnlinkAllDevices(ctx, session(ctx).AccountID))
	})

	huma.Register(s.api, authed(huma.Operation{
		OperationID: "disable-mfa", Method: http.MethodPost, Path: "/v1/security/mfa/disable",
		Summary: "Turn 2FA off, with a fresh second factor", DefaultStatus: http.StatusNoContent, Errors: []int{409, 429},
	}), func(ctx context.Context, in *disableInput) (*struct{}, error) {
		return nil, s.fail(s.cfg.App.DisableMFA(ctx, session(ctx).AccountID, in.Body.ChallengeID))
	})
}

// baseURL is where links point: the configured public URL, or this request's own origin.
func (s *Server) baseURL(hctx huma.Context) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	return s.scheme(request(hctx)) + "://" + hctx.Host()
}
