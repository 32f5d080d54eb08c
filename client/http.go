package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// Client talks to an Assent server's HTTP API. A Client keeps cookies, so it can also act as
// a browser: sign in, await the result, hold the session.
type Client struct {
	BaseURL string
	HTTP    *http.Client
	// CSRFToken is the session's CSRF token, set by sign-in calls.
	CSRFToken string
}

// New returns a client of the server at baseURL (such as "http://127.0.0.1:8080").
func New(baseURL string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Jar: jar, Timeout: 40 * time.Second}}
}

// Error is a refusal of the server: its status, stable code and sentence.
type Error struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter is the server's Retry-After, for rate-limited requests.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("assent: %s (%d): %s", e.Code, e.Status, e.Message)
}

// do sends a JSON request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, header http.Header, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.CSRFToken != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", c.CSRFToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_error", strings.TrimSpace(string(data))
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			var secs int
			fmt.Sscan(ra, &secs)
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return resp, e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("assent: decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// LinkResult is what the server gives a device that it links.
type LinkResult struct {
	DeviceID    uuid.UUID `json:"device_id"`
	AccountID   uuid.UUID `json:"account_id"`
	Email       string    `json:"email"`
	TOTPSecret  string    `json:"totp_secret"`
	MFAEnabled  bool      `json:"mfa_enabled"`
	BackupCodes []string  `json:"backup_codes"`
}

type deviceIdentity struct {
	PublicKey []byte `json:"public_key"`
	Name      string `json:"name"`
	Platform  string `json:"platform"`
}

// ParseEnrollmentLink returns the server and the token of an enrollment link.
func ParseEnrollmentLink(link string) (server, token string, err error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" || u.Query().Get("token") == "" {
		return "", "", fmt.Errorf("assent: %q is not an enrollment link", link)
	}
	return u.Scheme + "://" + u.Host, u.Query().Get("token"), nil
}

// Enroll links d to the account of an enrollment link (the QR code of the security page) and
// records the link in d.
func (c *Client) Enroll(ctx context.Context, d *Device, token string) (LinkResult, error) {
	in := struct {
		Token string `json:"token"`
		deviceIdentity
	}{token, deviceIdentity{d.PublicKey(), d.Name, d.Platform}}
	var res LinkResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/devices/enrollments", nil, in, &res); err != nil {
		return LinkResult{}, err
	}
	d.adopt(c.BaseURL, res)
	return res, nil
}

func (d *Device) adopt(server string, res LinkResult) {
	d.ID = res.DeviceID
	d.Server = server
	d.AddLink(Link{AccountID: res.AccountID, Email: res.Email, TOTPSecret: res.TOTPSecret, LinkedAt: time.Now().UTC()})
}

// Challenge is a pending sign-in as the login page sees it.
type Challenge struct {
	ID        uuid.UUID `json:"id"`
	Number    string    `json:"number"`
	ExpiresAt time.Time `json:"expires_at"`
	Devices   int       `json:"devices"`
	PushMuted bool      `json:"push_muted"`
}

// SignInResponse is the answer to a sign-in: a session, or a challenge to await.
type SignInResponse struct {
	Status     string     `json:"status"`
	AccountID  uuid.UUID  `json:"account_id"`
	CSRFToken  string     `json:"csrf_token"`
	Challenge  *Challenge `json:"challenge"`
	LoginToken string     `json:"login_token"`
	// EnrollmentRequired: the help desk reset the second factor; the session is for setting up
	// a new one.
	EnrollmentRequired bool `json:"enrollment_required"`
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Register creates an account.
func (c *Client) Register(ctx context.Context, email, password string) (uuid.UUID, error) {
	var out struct {
		AccountID uuid.UUID `json:"account_id"`
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/accounts", nil, credentials{email, password}, &out)
	return out.AccountID, err
}

// SignIn signs in with a password, as a login page does. With a session it keeps the cookie
// and the CSRF token.
func (c *Client) SignIn(ctx context.Context, email, password string) (SignInResponse, error) {
	var out SignInResponse
	if _, err := c.do(ctx, http.MethodPost, "/v1/sessions", nil, credentials{email, password}, &out); err != nil {
		return out, err
	}
	if out.CSRFToken != "" {
		c.CSRFToken = out.CSRFToken
	}
	return out, nil
}

// LoginStatus is a pending sign-in's state.
type LoginStatus struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	// Status is the slug of a domain.ChallengeState: pending, or an outcome (State).
	Status   string `json:"status"`
	Approved bool   `json:"approved"`
}

// State returns the state Status spells, or the zero state for one this build does not know.
func (st LoginStatus) State() domain.ChallengeState {
	s, _ := domain.ParseChallengeState(st.Status)
	return s
}

// AwaitLogin waits for a sign-in's outcome by long-polling, as simple clients do. The login
// token travels in the X-Login-Token header, never in the URL.
func (c *Client) AwaitLogin(ctx context.Context, challenge uuid.UUID, loginToken string) (LoginStatus, error) {
	h := http.Header{"X-Login-Token": {loginToken}}
	for {
		var st LoginStatus
		if _, err := c.do(ctx, http.MethodGet, "/v1/logins/"+challenge.String()+"?wait=25s", h, nil, &st); err != nil {
			return st, err
		}
		if st.State() != domain.StatePending {
			return st, nil
		}
	}
}

// StreamTicket is a short-lived ticket that opens a sign-in's result streams.
type StreamTicket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LoginStreamTicket returns a ticket for the URLs of a sign-in's result streams (?ticket= on
// /v1/logins/{id}, /events and /socket), for a page or program that cannot set the
// X-Login-Token header there. The login token itself never goes in a URL: the server refuses
// it there (400 login_token_in_url). A ticket opens a stream for 60 seconds.
func (c *Client) LoginStreamTicket(ctx context.Context, challenge uuid.UUID, loginToken string) (StreamTicket, error) {
	var out StreamTicket
	_, err := c.do(ctx, http.MethodPost, "/v1/logins/"+challenge.String()+"/ticket", http.Header{"X-Login-Token": {loginToken}}, nil, &out)
	return out, err
}

// RedeemLogin exchanges an approved sign-in for the session cookie. The exchange happens once:
// a second one gets 409 challenge_redeemed.
func (c *Client) RedeemLogin(ctx context.Context, challenge uuid.UUID, loginToken string) error {
	var out SignInResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/logins/"+challenge.String()+"/session", http.Header{"X-Login-Token": {loginToken}}, nil, &out)
	if err == nil {
		c.CSRFToken = out.CSRFToken
	}
	return err
}

// LoginWithCode completes a sign-in with an app code or a backup code and keeps the session.
func (c *Client) LoginWithCode(ctx context.Context, challenge uuid.UUID, loginToken, code string) error {
	out, err := c.passWithCode(ctx, challenge, loginToken, code, "session")
	if err == nil {
		c.CSRFToken = out.CSRFToken
	}
	return err
}

// PassWithCode passes a challenge with an app code or a backup code without making a session:
// the passed challenge is left for the step that asked for it (linking from the phone, turning
// 2FA off), which spends it.
func (c *Client) PassWithCode(ctx context.Context, challenge uuid.UUID, loginToken, code string) error {
	_, err := c.passWithCode(ctx, challenge, loginToken, code, "step_up")
	return err
}

func (c *Client) passWithCode(ctx context.Context, challenge uuid.UUID, loginToken, code, purpose string) (SignInResponse, error) {
	var out SignInResponse
	in := struct {
		Code    string `json:"code"`
		Purpose string `json:"purpose"`
	}{code, purpose}
	_, err := c.do(ctx, http.MethodPost, "/v1/logins/"+challenge.String()+"/code", http.Header{"X-Login-Token": {loginToken}}, in, &out)
	return out, err
}

// PhoneLinkStart is the first step of linking from the phone.
type PhoneLinkStart struct {
	AccountID  uuid.UUID  `json:"account_id"`
	Challenge  *Challenge `json:"challenge"`
	LoginToken string     `json:"login_token"`
}

// PhoneLinkBegin checks the credentials on the phone; with 2FA on it returns a challenge to
// pass first.
func (c *Client) PhoneLinkBegin(ctx context.Context, email, password string) (PhoneLinkStart, error) {
	var out PhoneLinkStart
	_, err := c.do(ctx, http.MethodPost, "/v1/devices/phone-link", nil, credentials{email, password}, &out)
	return out, err
}

// PhoneLinkBeginAs is PhoneLinkBegin that names the device being linked (d.Name): the devices
// already linked then show "A new device, NAME, is being linked" rather than a sign-in request.
func (c *Client) PhoneLinkBeginAs(ctx context.Context, d *Device, email, password string) (PhoneLinkStart, error) {
	in := struct {
		credentials
		Name string `json:"name,omitempty"`
	}{credentials{email, password}, d.Name}
	var out PhoneLinkStart
	_, err := c.do(ctx, http.MethodPost, "/v1/devices/phone-link", nil, in, &out)
	return out, err
}

// PhoneLinkAuthorize is the person tapping Authorize: it links d and records the link.
func (c *Client) PhoneLinkAuthorize(ctx context.Context, d *Device, email, password string, challenge uuid.UUID) (LinkResult, error) {
	in := struct {
		credentials
		deviceIdentity
		ChallengeID uuid.UUID `json:"challenge_id,omitzero"`
	}{credentials{email, password}, deviceIdentity{d.PublicKey(), d.Name, d.Platform}, challenge}
	var res LinkResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/devices/phone-link/authorize", nil, in, &res); err != nil {
		return LinkResult{}, err
	}
	d.adopt(c.BaseURL, res)
	return res, nil
}

// Post, Get, Patch and Delete call any route of the API as the signed-in session, for integrators
// and tests; out may be nil.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	_, err := c.do(ctx, http.MethodPost, path, nil, in, out)
	return err
}

func (c *Client) Get(ctx context.Context, path string, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, nil, nil, out)
	return err
}

func (c *Client) Patch(ctx context.Context, path string, in, out any) error {
	_, err := c.do(ctx, http.MethodPatch, path, nil, in, out)
	return err
}

func (c *Client) Delete(ctx context.Context, path string) error {
	_, err := c.do(ctx, http.MethodDelete, path, nil, nil, nil)
	return err
}

// AnswerHTTP signs and sends an answer over HTTP instead of the socket.
func (c *Client) AnswerHTTP(ctx context.Context, d *Device, r Request, answer domain.Answer, number int) error {
	sig, err := d.SignAnswer(r.ID, answer, number, r.Context)
	if err != nil {
		return err
	}
	in := struct {
		Answer    string `json:"answer"`
		Number    int    `json:"number"`
		Signature []byte `json:"signature"`
	}{answer.String(), number, sig}
	_, err = c.do(ctx, http.MethodPost, "/v1/devices/"+d.ID.String()+"/challenges/"+r.ID.String()+"/answer", nil, in, nil)
	return err
}
