package httpapi

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
)

type completeEnrollmentInput struct {
	Body struct {
		Token     string `json:"token" maxLength:"200" doc:"The token of the enrollment link"`
		PublicKey []byte `json:"public_key" minLength:"43" maxLength:"44" doc:"The device's Ed25519 public key (base64)"`
		Name      string `json:"name" minLength:"1" maxLength:"100" example:"Ada's phone"`
		Platform  string `json:"platform" maxLength:"40" example:"android"`
	}
}

// LinkResult is what a device receives when it is linked to an account, once.
type LinkResult struct {
	DeviceID    uuid.UUID `json:"device_id"`
	AccountID   uuid.UUID `json:"account_id"`
	Email       string    `json:"email"`
	TOTPSecret  string    `json:"totp_secret" doc:"The device's TOTP secret for this account (base32), given only now"`
	MFAEnabled  bool      `json:"mfa_enabled" doc:"True when this link turned 2FA on"`
	BackupCodes []string  `json:"backup_codes,omitempty" doc:"The first backup codes, when this link turned 2FA on"`
}

type linkOutput struct {
	Status int
	Body   LinkResult
}

type phoneLinkBeginInput struct {
	UserAgent string `header:"User-Agent"`
	Body      struct {
		Email    string `json:"email" maxLength:"320" doc:"The account's email address"`
		Password string `json:"password" maxLength:"1024" doc:"The account's password"`
		Name     string `json:"name,omitempty" required:"false" maxLength:"100" doc:"The name of the device being linked: the linked devices show \"A new device, NAME, is being linked\" instead of a sign-in request"`
	}
}

type phoneLinkBeginOutput struct {
	Body struct {
		AccountID  uuid.UUID      `json:"account_id"`
		Challenge  *ChallengeInfo `json:"challenge,omitempty" doc:"Pass it first when 2FA is on: approve it on a linked device or with a code"`
		LoginToken string         `json:"login_token,omitempty"`
	}
}

type phoneLinkAuthorizeInput struct {
	Body struct {
		Email       string    `json:"email" maxLength:"320"`
		Password    string    `json:"password" maxLength:"1024"`
		PublicKey   []byte    `json:"public_key" minLength:"43" maxLength:"44" doc:"The device's Ed25519 public key (base64)"`
		Name        string    `json:"name" minLength:"1" maxLength:"100"`
		Platform    string    `json:"platform" maxLength:"40"`
		ChallengeID uuid.UUID `json:"challenge_id,omitempty" required:"false" doc:"The challenge of phone-link/begin, when 2FA is on"`
	}
}

type answerInput struct {
	DeviceID    uuid.UUID `path:"device"`
	ChallengeID uuid.UUID `path:"challenge"`
	Body        struct {
		Answer    string `json:"answer" enum:"approve,deny,fraud"`
		Number    int    `json:"number" minimum:"0" maximum:"99" doc:"The number typed on the device; 0 for deny and fraud"`
		Signature []byte `json:"signature" minLength:"86" maxLength:"88" doc:"Ed25519 signature of the answer payload (base64)"`
	}
}

type answerOutput struct {
	Body struct {
		OK bool `json:"ok"`
	}
}

func linkResult(r app.EnrollmentResult) LinkResult {
	return LinkResult{DeviceID: r.DeviceID, AccountID: r.AccountID, Email: r.Email, TOTPSecret: r.TOTPSecret, MFAEnabled: r.MFAEnabled, BackupCodes: r.BackupCodes}
}

func (s *Server) registerDevices() {
	huma.Register(s.api, huma.Operation{
		OperationID: "complete-enrollment", Method: http.MethodPost, Path: "/v1/devices/enrollments", Tags: []string{"devices"},
		Summary: "Link a device with a scanned enrollment link", DefaultStatus: http.StatusCreated,
		Errors: []int{404, 409, 410, 422, 429},
	}, func(ctx context.Context, in *completeEnrollmentInput) (*linkOutput, error) {
		if err := s.limit(s.limits.enrollIP, "enroll:"+clientIP(humaCtx(ctx))); err != nil {
			return nil, err
		}
		b := in.Body
		r, err := s.cfg.App.CompleteEnrollment(ctx, b.Token, ed25519.PublicKey(b.PublicKey), b.Name, b.Platform)
		if err != nil {
			return nil, s.fail(err)
		}
		return &linkOutput{Status: http.StatusCreated, Body: linkResult(r)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "phone-link-begin", Method: http.MethodPost, Path: "/v1/devices/phone-link", Tags: []string{"devices"},
		Summary: "Link from the phone, step 1: the account's email and password",
		Errors:  []int{401, 422, 429},
	}, func(ctx context.Context, in *phoneLinkBeginInput) (*phoneLinkBeginOutput, error) {
		hctx := humaCtx(ctx)
		ip := clientIP(hctx)
		if err := s.limitPassword(ip, in.Body.Email); err != nil {
			return nil, err
		}
		lc := domain.LoginContext{UserAgent: in.UserAgent, IP: ip, At: s.cfg.Now().UTC().Truncate(time.Second), LinkingDevice: strings.TrimSpace(in.Body.Name)}
		r, err := s.cfg.App.PhoneLinkBegin(ctx, in.Body.Email, in.Body.Password, lc)
		if err != nil {
			return nil, s.fail(err)
		}
		s.passwordPassed(ip, in.Body.Email)
		out := &phoneLinkBeginOutput{}
		out.Body.AccountID = r.AccountID
		if r.Challenge != nil {
			out.Body.Challenge = challengeInfo(r.Challenge)
			out.Body.LoginToken = s.cfg.Sessions.LoginToken(r.Challenge.ID)
		}
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "phone-link-authorize", Method: http.MethodPost, Path: "/v1/devices/phone-link/authorize", Tags: []string{"devices"},
		Summary: "Link from the phone, step 2: the person taps Authorize", DefaultStatus: http.StatusCreated,
		Errors: []int{401, 403, 409, 422, 429},
	}, func(ctx context.Context, in *phoneLinkAuthorizeInput) (*linkOutput, error) {
		ip := clientIP(humaCtx(ctx))
		if err := s.limitPassword(ip, in.Body.Email); err != nil {
			return nil, err
		}
		b := in.Body
		r, err := s.cfg.App.PhoneLinkAuthorize(ctx, app.PhoneLinkRequest{
			Email: b.Email, Password: b.Password, PublicKey: ed25519.PublicKey(b.PublicKey),
			Name: b.Name, Platform: b.Platform, ChallengeID: b.ChallengeID, IP: ip,
		})
		if err != nil {
			return nil, s.fail(err)
		}
		return &linkOutput{Status: http.StatusCreated, Body: linkResult(r)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "answer-challenge", Method: http.MethodPost, Path: "/v1/devices/{device}/challenges/{challenge}/answer", Tags: []string{"devices"},
		Summary:     "Answer a challenge over HTTP (as over the socket)",
		Description: "The signature authenticates the device: no session is needed.",
		Errors:      []int{401, 403, 404, 409, 410, 422, 429},
	}, func(ctx context.Context, in *answerInput) (*answerOutput, error) {
		if err := s.limitAnswer(clientIP(humaCtx(ctx)), in.DeviceID); err != nil {
			return nil, err
		}
		a, err := domain.ParseAnswer(in.Body.Answer)
		if err != nil {
			return nil, s.fail(err)
		}
		if err := s.cfg.App.AnswerChallenge(ctx, in.DeviceID, in.ChallengeID, a, in.Body.Number, in.Body.Signature); err != nil {
			return nil, s.fail(err)
		}
		out := &answerOutput{}
		out.Body.OK = true
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "device-socket", Method: http.MethodGet, Path: "/v1/devices/socket", Tags: []string{"devices"},
		Summary:     "The device socket (WebSocket)",
		Description: "The server sends hello with a nonce; the device answers auth with its ID and its signature of the nonce; then challenges, outcomes and unlinks arrive as they are appended. See docs/api.md.",
		Responses:   map[string]*huma.Response{"101": {Description: "Switching to the WebSocket protocol."}},
		Errors:      []int{400},
	}, func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			ec := humaecho.Unwrap(hctx)
			ip := clientIP(hctx)
			s.cfg.Hub.ServeDevice(ec.Response(), ec.Request(), s.cfg.Log, push.Peer{Addr: ip,
				AllowAnswer: func(device uuid.UUID) error { return s.limitAnswer(ip, device) }})
		}}, nil
	})
}

// limitAnswer takes a token of the device answer limits, per client IP and per device: the
// same for answers over HTTP and over the socket.
func (s *Server) limitAnswer(ip string, device uuid.UUID) error {
	if err := s.limit(s.limits.answerIP, "answer:"+ip); err != nil {
		return err
	}
	return s.limit(s.limits.answerDevice, "answer:"+device.String())
}
