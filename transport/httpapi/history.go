package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/transport/apierror"
)

func init() {
	apierror.Add(app.ErrRequestExpired, 401, "request_expired", "The device's signed request is more than a minute away from the server's clock: check the device's clock and sign it again.")
}

// HistoryItem is one sign-in or push of the account, as its history lists it.
type HistoryItem struct {
	ID            *uuid.UUID     `json:"id,omitempty" doc:"The challenge; absent for a sign-in with the password alone"`
	Kind          string         `json:"kind" enum:"challenge,sign_in" doc:"challenge: a second factor was asked for (a push, a code); sign_in: the password alone signed in"`
	At            time.Time      `json:"at"`
	Browser       string         `json:"browser" doc:"Browser and system, as its User-Agent tells them"`
	UserAgent     string         `json:"user_agent"`
	IP            string         `json:"ip"`
	Place         string         `json:"place,omitempty" doc:"Where the IP is, when the server knows (it has no geolocation data of its own: usually absent)"`
	App           string         `json:"app,omitempty" doc:"The application that asked, for a request through the Duo-compatible Auth API"`
	LinkingDevice string         `json:"linking_device,omitempty" doc:"The name of a new device being linked from the phone, for such a request"`
	PushedTo      []HistoryActor `json:"pushed_to" doc:"The devices the request was sent to"`
	State         string         `json:"state" enum:"pending,approved,denied,fraud_reported,expired,cancelled,completed_totp,completed_backup_code" doc:"The outcome"`
	CancelReason  string         `json:"cancel_reason,omitempty" enum:"superseded,abandoned,mfa_disabled,locked" doc:"Why it was cancelled; locked: failed attempts locked the second factor"`
	Method        string         `json:"method,omitempty" enum:"push_approve,push_deny,push_fraud,device_code,totp_app,backup_code,bypass_code,password" doc:"How it was answered: on a device (approve, deny, \"this wasn't me\"), with a device's offline code, an authenticator app's code, a backup code, a help desk's bypass code, or the password alone"`
	By            *HistoryActor  `json:"by,omitempty" doc:"The device or authenticator app that answered"`
	DecidedAt     *time.Time     `json:"decided_at,omitempty"`
	Signature     string         `json:"signature,omitempty" enum:"verified,failed" doc:"For an answer on a device: the server verified the device's Ed25519 signature over the challenge, the answer, the number and what the device was shown (verified), or it did not verify (failed, which an honest log never gives); absent for other answers"`
	Mismatches    int            `json:"number_mismatches,omitempty" doc:"Approvals with a wrong number before the outcome"`
	Redeemed      string         `json:"redeemed,omitempty" enum:"session,disable_mfa,phone_link,resume_push" doc:"What the passed challenge was spent on"`
}

// HistoryActor is a device or an authenticator app of the account, by its name now.
type HistoryActor struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name" doc:"Its name now; empty for one this account no longer knows"`
	Kind string    `json:"kind" enum:"device,totp_app"`
}

type historyOutput struct {
	Body struct {
		History []HistoryItem `json:"history"`
		Limit   int           `json:"limit" doc:"How many entries the server keeps per account: the newest ones"`
	}
}

type deviceHistoryInput struct {
	ID        uuid.UUID `path:"id" doc:"The device"`
	Account   uuid.UUID `query:"account" required:"true" doc:"An account the device is linked to"`
	At        int64     `header:"Assent-Device-Time" required:"true" doc:"When the device signed the request, in Unix seconds; good for a minute either way"`
	Signature string    `header:"Assent-Device-Signature" required:"true" doc:"The device's Ed25519 signature (base64) of assent.device-request.v1 over the method, the path with its query, and Assent-Device-Time: see docs/api.md"`
}

// historyItems turns the read model's entries into the API's, checking each signed answer.
func historyItems(list []projections.HistoryEntry, names projections.HistoryNames) []HistoryItem {
	device := func(id uuid.UUID) HistoryActor { return HistoryActor{ID: id, Name: names.Devices[id], Kind: "device"} }
	out := make([]HistoryItem, 0, len(list))
	for _, e := range list {
		it := HistoryItem{Kind: e.Kind, At: e.At, Browser: browserOf(e.Context.UserAgent), UserAgent: e.Context.UserAgent, IP: e.Context.IP,
			Place: e.Context.Place, App: e.Context.App, LinkingDevice: e.Context.LinkingDevice, PushedTo: []HistoryActor{},
			State: e.State.String(), CancelReason: e.CancelReason, Method: e.Method.String(), Signature: e.Check().String(),
			Mismatches: e.Mismatches, Redeemed: e.Redeemed}
		if e.ID != uuid.Nil {
			id := e.ID
			it.ID = &id
		}
		for _, d := range e.Devices {
			it.PushedTo = append(it.PushedTo, device(d.DeviceID))
		}
		switch {
		case e.DeviceID != uuid.Nil:
			by := device(e.DeviceID)
			it.By = &by
		case e.Method == projections.ViaDeviceCode:
			by := device(e.SecretID)
			it.By = &by
		case e.Method == projections.ViaTOTPApp:
			it.By = &HistoryActor{ID: e.SecretID, Name: names.Apps[e.SecretID], Kind: "totp_app"}
		}
		if !e.DecidedAt.IsZero() {
			at := e.DecidedAt
			it.DecidedAt = &at
		}
		out = append(out, it)
	}
	return out
}

func (s *Server) registerHistory() {
	huma.Register(s.api, huma.Operation{
		OperationID: "account-history", Method: http.MethodGet, Path: "/v1/security/history", Tags: []string{"security"},
		Summary:     "The account's recent sign-ins and pushes, each answer on a device verified",
		Description: "Newest first; the server keeps the newest 100 of each account. Each answer on a device carries the server's check of the device's signature over what it was shown.",
		Security:    sessionSecurity, Middlewares: huma.Middlewares{s.requireSession}, Errors: []int{401, 403},
	}, func(ctx context.Context, _ *struct{}) (*historyOutput, error) {
		list, names, err := s.cfg.App.History(ctx, session(ctx).AccountID)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &historyOutput{}
		out.Body.History, out.Body.Limit = historyItems(list, names), projections.HistoryLimit
		return out, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "device-history", Method: http.MethodGet, Path: "/v1/devices/{id}/history", Tags: []string{"devices"},
		Summary:     "Your recent approvals: the pushes of an account the device is linked to",
		Description: "Authenticated by the device's signature of the request (Assent-Device-Time and Assent-Device-Signature headers): no session is needed. The entries are those of GET /v1/security/history that were pushed to a device.",
		Errors:      []int{401, 403, 404, 422, 429},
	}, func(ctx context.Context, in *deviceHistoryInput) (*historyOutput, error) {
		hctx := humaCtx(ctx)
		// The answer limits' rates, in buckets of their own: reading the history never takes
		// a token an answer needs.
		if err := s.limit(s.limits.answerIP, "history:"+clientIP(hctx)); err != nil {
			return nil, err
		}
		if err := s.limit(s.limits.answerDevice, "history:"+in.ID.String()); err != nil {
			return nil, err
		}
		sig, err := base64.StdEncoding.DecodeString(in.Signature)
		if err != nil {
			return nil, s.fail(domain.ErrBadSignature)
		}
		req := app.DeviceRequest{DeviceID: in.ID, Method: http.MethodGet, Path: request(hctx).URL.RequestURI(), At: time.Unix(in.At, 0), Signature: sig}
		list, names, err := s.cfg.App.DeviceHistory(ctx, req, in.Account)
		if err != nil {
			return nil, s.fail(err)
		}
		out := &historyOutput{}
		out.Body.History, out.Body.Limit = historyItems(list, names), projections.HistoryLimit
		return out, nil
	})
}
