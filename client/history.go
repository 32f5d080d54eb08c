package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// HistoryEntry is one sign-in or push of an account, as the server's history lists it (see
// docs/api.md). Signature is "verified" when the server verified the answering device's
// signature over what it was shown, "failed" when it did not, and empty for answers that are
// not signed (codes).
type HistoryEntry struct {
	ID            *uuid.UUID     `json:"id"`
	Kind          string         `json:"kind"`
	At            time.Time      `json:"at"`
	Browser       string         `json:"browser"`
	UserAgent     string         `json:"user_agent"`
	IP            string         `json:"ip"`
	Place         string         `json:"place"`
	App           string         `json:"app"`
	LinkingDevice string         `json:"linking_device"`
	PushedTo      []HistoryActor `json:"pushed_to"`
	State         string         `json:"state"`
	CancelReason  string         `json:"cancel_reason"`
	Method        string         `json:"method"`
	By            *HistoryActor  `json:"by"`
	DecidedAt     *time.Time     `json:"decided_at"`
	Signature     string         `json:"signature"`
	Mismatches    int            `json:"number_mismatches"`
	Redeemed      string         `json:"redeemed"`
}

// ChallengeState returns the state State spells: pending or the outcome (the zero state for
// one this build does not know).
func (e HistoryEntry) ChallengeState() domain.ChallengeState {
	st, _ := domain.ParseChallengeState(e.State)
	return st
}

// SignatureCheck returns the check Signature spells (SignatureNone for one this build does
// not know).
func (e HistoryEntry) SignatureCheck() domain.SignatureCheck {
	c, _ := domain.ParseSignatureCheck(e.Signature)
	return c
}

// HistoryActor is a device or an authenticator app of the account.
type HistoryActor struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Kind string    `json:"kind"`
}

// History is the history of the signed-in session's account, newest first.
func (c *Client) History(ctx context.Context) ([]HistoryEntry, error) {
	var out struct {
		History []HistoryEntry `json:"history"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/security/history", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.History, nil
}

// DeviceHistory is "your recent approvals": the pushes of an account the device is linked to,
// newest first. The request is signed with the device's key (SignRequest); no session is
// needed.
func (c *Client) DeviceHistory(ctx context.Context, d *Device, account uuid.UUID) ([]HistoryEntry, error) {
	path := "/v1/devices/" + d.ID.String() + "/history?account=" + url.QueryEscape(account.String())
	var out struct {
		History []HistoryEntry `json:"history"`
	}
	if _, err := c.do(ctx, http.MethodGet, path, d.SignRequest(http.MethodGet, path, time.Now()), nil, &out); err != nil {
		return nil, err
	}
	return out.History, nil
}

// SignRequest returns the headers that make an HTTP request the device's own: the time and
// the device's signature of domain.DeviceRequestPayload. The server takes them for about a
// minute either way of its clock.
func (d *Device) SignRequest(method, pathAndQuery string, at time.Time) http.Header {
	sig := ed25519.Sign(d.PrivateKey, domain.DeviceRequestPayload(d.ID, method, pathAndQuery, at))
	h := http.Header{}
	h.Set("Assent-Device-Time", strconv.FormatInt(at.Unix(), 10))
	h.Set("Assent-Device-Signature", base64.StdEncoding.EncodeToString(sig))
	return h
}
