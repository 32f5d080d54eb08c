package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/transport/httpapi"
)

// helpDeskNode starts a node with one administrator ("alice") and one auditor ("bob"), and
// returns it with their tokens.
func helpDeskNode(t *testing.T) (n *node, adminToken, auditorToken string) {
	t.Helper()
	adminToken, adminHash, err := admins.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	auditorToken, auditorHash, err := auditors.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	wide := httpapi.Limit{PerMinute: 6000, Burst: 1000} // the journey signs in more often than a person would
	limits := httpapi.RateLimits{SignInPerIP: wide, SignInPerAccount: wide, CodesPerIP: wide, CodesPerAccount: wide,
		EnrollmentPerIP: wide, DeviceAnswerPerIP: wide, DeviceAnswerPerDevice: wide}
	n = startNodeWith(t, func(c *config.Config) {
		c.AdminTokens, c.AuditorTokens = "alice:"+adminHash, "bob:"+auditorHash
	}, startOptions{limits: &limits})
	t.Cleanup(func() { checkDocumented(t, n) })
	return n, adminToken, auditorToken
}

// adminPost posts body to /v1/admin/accounts/ACCOUNT/path with the token and returns the status,
// the problem code (on a refusal) and the body.
func adminPost(t *testing.T, n *node, token, account, path string, body any) (int, string, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, n.url+"/v1/admin/accounts/"+url.PathEscape(account)+"/"+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: n.rec}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var p struct{ Code string }
	if resp.StatusCode >= 400 {
		_ = json.Unmarshal(out, &p)
	}
	return resp.StatusCode, p.Code, out
}

type adminView struct {
	MFAEnabled  bool       `json:"mfa_enabled"`
	Devices     int        `json:"devices"`
	LockedUntil *time.Time `json:"locked_until"`
	SignInLocks []struct {
		Source string `json:"source"`
	} `json:"signin_locks"`
	Disabled bool `json:"disabled"`
}

// adminGet reads what the help desk sees of an account.
func adminGet(t *testing.T, n *node, token, account string) (int, adminView) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, n.url+"/v1/admin/accounts/"+url.PathEscape(account), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: n.rec}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v adminView
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, v
}

type sessionInfo struct {
	Notices []struct {
		Action string     `json:"action"`
		At     time.Time  `json:"at"`
		Until  *time.Time `json:"until"`
	} `json:"notices"`
	EnrollmentRequired bool `json:"enrollment_required"`
}

const reason = "ticket 4711: lost phone and codes, identity checked by video call"

// TestHelpDeskOverHTTP runs every help-desk act through the admin API of a real server, with
// its refusals, and what the person and the audit see of each.
func TestHelpDeskOverHTTP(t *testing.T) {
	t.Parallel()
	n, adminToken, auditorToken := helpDeskNode(t)
	ctx := ctxT(t)
	const email = "person@example.com"
	b := n.account(t, email)
	p := newPhone(t, "person's phone")
	link(t, n, b, p)
	p.connect(t, n)
	head := func() eventstore.Position { return n.srv.store.(interface{ Head() eventstore.Position }).Head() }

	// Refusals change nothing.
	before := head()
	for _, c := range []struct {
		name, token, account string
		body                 map[string]any
		status               int
		code                 string
	}{
		{"no credential", "", email, map[string]any{"reason": reason}, 401, "admin_unauthenticated"},
		{"a forged administrator token", admins.TokenPrefix + "forged", email, map[string]any{"reason": reason}, 401, "admin_unauthenticated"},
		{"an auditor's token", auditorToken, email, map[string]any{"reason": reason}, 403, "auditor_read_only"},
		{"no reason", adminToken, email, map[string]any{}, 422, "reason_required"},
		{"a reason of blanks", adminToken, email, map[string]any{"reason": "   "}, 422, "reason_required"},
		{"a reason too long", adminToken, email, map[string]any{"reason": strings.Repeat("x", 501)}, 422, "invalid_reason"},
		{"an unknown account", adminToken, "nobody@example.com", map[string]any{"reason": reason}, 404, "account_not_found"},
		{"eleven codes", adminToken, email, map[string]any{"reason": reason, "count": 11}, 422, "invalid_bypass_codes"},
	} {
		if st, code, body := adminPost(t, n, c.token, c.account, "bypass-codes", c.body); st != c.status || code != c.code {
			t.Errorf("%s: %d %q %s, want %d %q", c.name, st, code, body, c.status, c.code)
		}
	}
	if st, code, _ := adminPost(t, n, adminToken, email, "unlock", map[string]any{"reason": reason}); st != 409 || code != "not_locked" {
		t.Errorf("unlock of an account not locked: %d %q", st, code)
	}
	if st, code, _ := adminPost(t, n, adminToken, email, "enable", map[string]any{"reason": reason}); st != 409 || code != "account_not_disabled" {
		t.Errorf("enable of an account not disabled: %d %q", st, code)
	}
	if now := head(); now != before {
		t.Fatalf("refused acts moved the log from %d to %d", before, now)
	}

	// Bypass codes: the person signs in with one on the code form, once.
	st, _, body := adminPost(t, n, adminToken, email, "bypass-codes", map[string]any{"reason": reason, "count": 2, "valid_for_seconds": 600})
	if st != 200 {
		t.Fatalf("bypass codes: %d %s", st, body)
	}
	var issued struct {
		Codes     []string  `json:"codes"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &issued); err != nil || len(issued.Codes) != 2 {
		t.Fatalf("bypass codes: %s %v", body, err)
	}
	page, si := signIn(t, n, email)
	recv(t, p.requests, "challenge")
	if err := page.LoginWithCode(ctx, si.Challenge.ID, si.LoginToken, issued.Codes[0]); err != nil {
		t.Fatalf("sign in with a bypass code: %v", err)
	}
	var info sessionInfo
	if err := page.Get(ctx, "/v1/session", &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Notices) != 1 || info.Notices[0].Action != "bypass_codes_issued" || info.Notices[0].Until == nil {
		t.Fatalf("notices after bypass codes: %+v", info.Notices)
	}
	page2, si2 := signIn(t, n, email)
	recv(t, p.requests, "second challenge")
	wantCode(t, page2.LoginWithCode(ctx, si2.Challenge.ID, si2.LoginToken, issued.Codes[0]), "code_reused")
	if err := page.Post(ctx, "/v1/session/notices/seen", nil, nil); err != nil {
		t.Fatal(err)
	}
	info = sessionInfo{}
	if err := page.Get(ctx, "/v1/session", &info); err != nil || len(info.Notices) != 0 {
		t.Fatalf("notices after marking them read: %+v %v", info.Notices, err)
	}

	// Unlock: wrong codes lock the second factor; the help desk lifts the lock.
	var locked bool
	for i := 0; i < 10 && !locked; i++ {
		pg := n.client()
		s, err := pg.SignIn(ctx, email, "correct horse battery staple")
		var e *client.Error
		if locked = errors.As(err, &e) && e.Code == "locked"; locked || err != nil {
			break
		}
		recv(t, p.requests, "challenge")
		_ = pg.LoginWithCode(ctx, s.Challenge.ID, s.LoginToken, "000000")
	}
	if !locked {
		t.Fatal("wrong codes did not lock the second factor")
	}
	_, err := n.client().SignIn(ctx, email, "correct horse battery staple")
	wantCode(t, err, "locked")
	var sec struct {
		LockedUntil time.Time `json:"locked_until"`
	}
	if err := b.Get(ctx, "/v1/security", &sec); err != nil || !sec.LockedUntil.After(time.Now()) {
		t.Fatalf("the security view before the unlock: %+v %v", sec, err)
	}
	if st, v := adminGet(t, n, adminToken, email); st != 200 || v.LockedUntil == nil || !v.MFAEnabled || v.Devices != 1 {
		t.Fatalf("the help desk's view of the locked account: %d %+v", st, v)
	}
	if st, _ := adminGet(t, n, auditorToken, email); st != http.StatusUnauthorized {
		t.Fatalf("the help desk's view with an auditor's token: %d", st)
	}
	if st, code, body := adminPost(t, n, adminToken, email, "unlock", map[string]any{"reason": reason}); st != 200 || code != "" {
		t.Fatalf("unlock: %d %s", st, body)
	}
	if st, v := adminGet(t, n, adminToken, email); st != 200 || v.LockedUntil != nil || len(v.SignInLocks) != 0 {
		t.Fatalf("the help desk's view after the unlock: %d %+v", st, v)
	}
	sec.LockedUntil = time.Time{}
	if err := b.Get(ctx, "/v1/security", &sec); err != nil || sec.LockedUntil.After(time.Now()) {
		t.Fatalf("the security view after the unlock: %+v %v", sec, err)
	}
	signIn(t, n, email)
	recv(t, p.requests, "challenge after the unlock")

	// Disable: the session ends, sign-in is refused; enable lets the person in again, but not
	// the ended session.
	if st, _, body := adminPost(t, n, adminToken, email, "disable", map[string]any{"reason": reason}); st != 200 {
		t.Fatalf("disable: %d %s", st, body)
	}
	wantCode(t, page.Get(ctx, "/v1/session", &info), "unauthenticated")
	_, err = n.client().SignIn(ctx, email, "correct horse battery staple")
	wantCode(t, err, "account_disabled")
	if st, v := adminGet(t, n, adminToken, email); st != 200 || !v.Disabled {
		t.Fatalf("the help desk's view of the disabled account: %d %+v", st, v)
	}
	if st, code, _ := adminPost(t, n, adminToken, email, "disable", map[string]any{"reason": reason}); st != 403 || code != "account_disabled" {
		t.Errorf("disable twice: %d %q", st, code)
	}
	if st, _, body := adminPost(t, n, adminToken, email, "enable", map[string]any{"reason": reason}); st != 200 {
		t.Fatalf("enable: %d %s", st, body)
	}
	wantCode(t, page.Get(ctx, "/v1/session", &info), "unauthenticated")
	nextSecond()
	signIn(t, n, email)
	recv(t, p.requests, "challenge after enabling")

	// Reset, by the account's ID: the phone is unlinked, the next sign-in is the password alone
	// into a session that must set up a new second factor.
	accountID := si.AccountID.String()
	st, _, body = adminPost(t, n, adminToken, accountID, "second-factor/reset", map[string]any{"reason": reason, "enroll_within_seconds": 3600})
	if st != 200 {
		t.Fatalf("reset: %d %s", st, body)
	}
	recv(t, p.unlinked, "unlink notice to the phone")
	nextSecond()
	fresh := n.client()
	res, err := fresh.SignIn(ctx, email, "correct horse battery staple")
	if err != nil || res.Status != "signed_in" || !res.EnrollmentRequired {
		t.Fatalf("sign-in after reset: %+v %v", res, err)
	}
	if err := fresh.Get(ctx, "/v1/session", &info); err != nil || !info.EnrollmentRequired {
		t.Fatalf("session after reset: %+v %v", info, err)
	}
	var actions []string
	for _, nt := range info.Notices {
		actions = append(actions, nt.Action)
	}
	if got := strings.Join(actions, ","); got != "unlocked,disabled,enabled,second_factor_reset" {
		t.Fatalf("notices after reset: %s", got)
	}
	if strings.Contains(string(mustJSON(t, info)), "ticket 4711") {
		t.Fatal("the person's notices carry the administrator's reason")
	}
	p2 := newPhone(t, "person's new phone")
	link(t, n, fresh, p2)
	info = sessionInfo{} // absent fields must not keep their earlier values
	if err := fresh.Get(ctx, "/v1/session", &info); err != nil || info.EnrollmentRequired {
		t.Fatalf("session after a new phone: %+v %v", info, err)
	}
	signIn(t, n, email) // 2FA is on again

	// The audit: who let this person in without their phone, and why; no bypass code in the clear.
	status, export := auditGet(t, n.url, auditorToken, "/v1/audit/export")
	if status != 200 {
		t.Fatalf("export: %d", status)
	}
	for _, typ := range []string{"account.bypass_codes.issued", "account.helpdesk.unlocked", "account.helpdesk.disabled", "account.helpdesk.enabled", "account.helpdesk.second_factor_reset"} {
		found := false
		for _, line := range bytes.Split(export, []byte("\n")) {
			if bytes.Contains(line, []byte(`"`+typ+`"`)) && bytes.Contains(line, []byte(`"by":"alice"`)) && bytes.Contains(line, []byte(reason)) {
				found = true
			}
		}
		if !found {
			t.Errorf("the export has no %s naming alice and the reason", typ)
		}
	}
	for _, c := range issued.Codes {
		if bytes.Contains(export, []byte(c)) || bytes.Contains(export, []byte(strings.ReplaceAll(c, "-", ""))) {
			t.Fatal("the export holds a bypass code in the clear")
		}
	}
}

// nextSecond waits for the next whole second: sessions know when they began to the second, and
// one begun in the second of a disabling or a reset ends with the older ones.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDuoDisabledUserIsDenied: a user of an integration whose account the help desk disabled
// is denied by preauth, push and passcode, with the reason in words; enabled, it is asked again.
func TestDuoDisabledUserIsDenied(t *testing.T) {
	t.Parallel()
	d := startDuoNode(t, startOptions{})
	api := d.api(d.ikey, d.skey)
	p := newPhone(t, "Ada's phone")
	userID, linked := d.enrollUser(t, api, "ada", p)
	id, err := uuid.Parse(userID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := d.srv.App.DisableAccount(ctx, id, domain.HelpDeskAct{By: "alice", Reason: reason}); err != nil {
		t.Fatal(err)
	}
	pre, err := api.Preauth(authapi.PreauthUserId(userID))
	okStat(t, "preauth", pre.StatResult, err)
	if pre.Response.Result != "deny" || !strings.Contains(pre.Response.Status_Msg, "disabled") {
		t.Fatalf("preauth of a disabled user = %+v", pre.Response)
	}
	push, err := api.Auth("push", authapi.AuthUserId(userID))
	okStat(t, "auth push", push.StatResult, err)
	if push.Response.Result != "deny" || !strings.Contains(push.Response.Status_Msg, "disabled") {
		t.Fatalf("push for a disabled user = %+v", push.Response)
	}
	pc, err := api.Auth("passcode", authapi.AuthUserId(userID), authapi.AuthPasscode(linked.BackupCodes[0]))
	okStat(t, "auth passcode", pc.StatResult, err)
	if pc.Response.Result != "deny" || !strings.Contains(pc.Response.Status_Msg, "disabled") {
		t.Fatalf("passcode for a disabled user = %+v", pc.Response)
	}
	if err := d.srv.App.EnableAccount(ctx, id, domain.HelpDeskAct{By: "alice", Reason: reason}); err != nil {
		t.Fatal(err)
	}
	pre, err = api.Preauth(authapi.PreauthUserId(userID))
	okStat(t, "preauth", pre.StatResult, err)
	if pre.Response.Result != "auth" {
		t.Fatalf("preauth of the enabled user = %+v", pre.Response)
	}
}

// TestOIDCRefusesAResetAccountUntilEnrolled: after the help desk's reset, the password's session
// signs in to no application until a new second factor is on; a disabled account to none.
func TestOIDCRefusesAResetAccountUntilEnrolled(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	const email = "oidc.reset@example.com"
	browser := n.account(t, email)
	link(t, n, browser, newPhone(t, "the lost phone"))
	id, err := n.srv.App.FindAccount(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.srv.App.ResetSecondFactor(ctx, id, domain.HelpDeskAct{By: "alice", Reason: reason}, 0); err != nil {
		t.Fatal(err)
	}
	nextSecond()
	person := n.client()
	if res, err := person.SignIn(ctx, email, "correct horse battery staple"); err != nil || !res.EnrollmentRequired {
		t.Fatalf("sign-in after the reset: %+v %v", res, err)
	}
	r := newRP(t, n, app.OIDCClientSpec{})
	resume := func(want int, words string) {
		t.Helper()
		f, authURL := r.begin(person)
		_, to := f.follow(t, authURL)
		resp, _ := f.follow(t, n.url+"/oidc/continue?id="+authorizationID(t, to))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(body), words) {
			t.Fatalf("resume: %d %s, want %d and %q", resp.StatusCode, body, want, words)
		}
	}
	resume(http.StatusForbidden, "Set up your second factor first")

	// A new phone: no longer "set up first"; with 2FA on again, the application needs a sign-in
	// with the new second factor, so the person is sent to sign in.
	link(t, n, person, newPhone(t, "the new phone"))
	f, authURL := r.begin(person)
	_, to := f.follow(t, authURL)
	if _, again := f.follow(t, n.url+"/oidc/continue?id="+authorizationID(t, to)); !strings.Contains(again, "/signin?oidc=") {
		t.Fatalf("after a new phone, resume went to %s, not to sign in", again)
	}

	// Disabled: the application is refused, in words.
	if err := n.srv.App.DisableAccount(ctx, id, domain.HelpDeskAct{By: "alice", Reason: reason}); err != nil {
		t.Fatal(err)
	}
	resume(http.StatusForbidden, "Account disabled")
}

// TestOIDCRefreshRefusedForADisabledAccount: a relying party gets no new tokens for an account
// the help desk disabled; enabled again, its refresh token works.
func TestOIDCRefreshRefusedForADisabledAccount(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	const email = "oidc.disabled@example.com"
	browser := n.account(t, email)
	r := newRP(t, n, app.OIDCClientSpec{}, "offline_access")
	_, tok, _ := passwordFlow(t, n, r, browser)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	id, err := n.srv.App.FindAccount(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	act := domain.HelpDeskAct{By: "alice", Reason: reason}
	if err := n.srv.App.DisableAccount(ctx, id, act); err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	if _, err := refresh(tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh for a disabled account: %v", err)
	}
	if err := n.srv.App.EnableAccount(ctx, id, act); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh once enabled again: %v", err)
	}
}
