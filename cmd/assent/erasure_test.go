package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/transport/httpapi"
)

// filesHold returns which texts the event store's files (database and WAL) hold.
func filesHold(t *testing.T, dir string, texts ...string) []string {
	t.Helper()
	var found []string
	for _, name := range []string{"events.db", "events.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range texts {
			if bytes.Contains(raw, []byte(s)) {
				found = append(found, s+" in "+name)
			}
		}
	}
	return found
}

// TestErasureOverHTTP erases one account by the person's own "delete my account" (2FA on, a
// fresh code) and one by the help desk, on a real server: the store's files never hold their
// personal fields, the audit's export shows them while the keys exist and "[erased]" after,
// the log still verifies, the erased accounts are gone from every view and sign in no more,
// their addresses may be registered again, and another account is untouched.
func TestErasureOverHTTP(t *testing.T) {
	t.Parallel()
	adminToken, adminHash, err := admins.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	auditorToken, auditorHash, err := auditors.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	wide := httpapi.Limit{PerMinute: 6000, Burst: 1000}
	limits := httpapi.RateLimits{SignInPerIP: wide, SignInPerAccount: wide, CodesPerIP: wide, CodesPerAccount: wide,
		EnrollmentPerIP: wide, DeviceAnswerPerIP: wide, DeviceAnswerPerDevice: wide}
	var dir string
	n := startNodeWith(t, func(c *config.Config) {
		c.AdminTokens, c.AuditorTokens = "alice:"+adminHash, "bob:"+auditorHash
		dir = c.DataDir
	}, startOptions{limits: &limits})
	t.Cleanup(func() { checkDocumented(t, n) })
	ctx := ctxT(t)

	const self, desk, stays = "self.erased@example.com", "desk.erased@example.com", "stays@example.com"
	own := n.account(t, self)
	p := newPhone(t, "Selfs Phone 7")
	link(t, n, own, p)
	p.connect(t, n)
	signIn(t, n, self) // a challenge with its context, pushed to the phone
	recv(t, p.requests, "challenge")
	deskBrowser := n.account(t, desk)
	staysBrowser := n.account(t, stays)
	personalData := []string{self, desk, "Selfs Phone 7"}

	if found := filesHold(t, dir, append(personalData, stays)...); len(found) > 0 {
		t.Fatalf("the store's files hold personal fields in the clear: %v", found)
	}
	status, export := auditGet(t, n.url, auditorToken, "/v1/audit/export")
	if status != 200 || !bytes.Contains(export, []byte(self)) || !bytes.Contains(export, []byte("Selfs Phone 7")) {
		t.Fatalf("the audit export does not show the personal fields while the keys exist: %d", status)
	}

	// "Delete my account": refused without a fresh second factor, and then nothing changes.
	head := func() eventstore.Position { return n.srv.store.(interface{ Head() eventstore.Position }).Head() }
	before := head()
	wantCode(t, own.Post(ctx, "/v1/security/erase", map[string]any{"challenge_id": uuid.New()}, nil), "challenge_not_found")
	if head() != before {
		t.Fatal("a refused erasure moved the log")
	}
	page, si := signIn(t, n, self)
	recv(t, p.requests, "step-up challenge")
	if err := page.PassWithCode(ctx, si.Challenge.ID, si.LoginToken, codeFor(t, p.dev, self)); err != nil {
		t.Fatal(err)
	}
	var erased struct {
		AccountID   uuid.UUID `json:"account_id"`
		ClearEvents int       `json:"clear_events"`
	}
	if err := own.Post(ctx, "/v1/security/erase", map[string]any{"challenge_id": si.Challenge.ID}, &erased); err != nil {
		t.Fatalf("delete my account: %v", err)
	}
	if erased.AccountID == uuid.Nil || erased.ClearEvents != 0 {
		t.Fatalf("delete my account answered %+v", erased)
	}
	wantCode(t, own.Get(ctx, "/v1/security", nil), "unauthenticated")

	// The help desk's erasure: a reason is required.
	if st, code, _ := adminPost(t, n, adminToken, desk, "erase", map[string]any{}); st != 422 || code != "reason_required" {
		t.Fatalf("erasure without a reason: %d %q", st, code)
	}
	if st, _, body := adminPost(t, n, adminToken, desk, "erase", map[string]any{"reason": "ticket 99: asked to be forgotten"}); st != 200 {
		t.Fatalf("erasure by the help desk: %d %s", st, body)
	}
	wantCode(t, deskBrowser.Get(ctx, "/v1/security", nil), "unauthenticated")
	if st, code, _ := adminPost(t, n, adminToken, desk, "erase", map[string]any{"reason": "again"}); st != 404 || code != "account_not_found" {
		t.Fatalf("erasing an erased account: %d %q", st, code)
	}

	// Nothing personal of theirs is readable: not in the files, not in an export.
	if found := filesHold(t, dir, personalData...); len(found) > 0 {
		t.Fatalf("the store's files hold %v", found)
	}
	status, export = auditGet(t, n.url, auditorToken, "/v1/audit/export")
	if status != 200 {
		t.Fatalf("export: %d", status)
	}
	for _, s := range personalData {
		if bytes.Contains(export, []byte(s)) {
			t.Errorf("the export shows %q after erasure", s)
		}
	}
	if !bytes.Contains(export, []byte(personal.ErasedValue)) || !bytes.Contains(export, []byte(`"account.erased"`)) {
		t.Error("the export does not show where the data was erased")
	}
	if !bytes.Contains(export, []byte(stays)) {
		t.Error("the export no longer shows the other account's email")
	}
	if rep, err := audit.Verify(ctx, n.srv.store.(audit.ChainLog), audit.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("verify after erasure: %+v %v", rep, err)
	}
	for _, email := range []string{self, desk} {
		_, err := n.client().SignIn(ctx, email, "correct horse battery staple")
		wantCode(t, err, "wrong_credentials")
		if st, _ := adminGet(t, n, adminToken, email); st != 404 {
			t.Errorf("the help desk still sees %s: %d", email, st)
		}
	}
	// The other account is untouched, and the addresses are free again.
	if err := staysBrowser.Get(ctx, "/v1/security", nil); err != nil {
		t.Fatalf("the other account's session: %v", err)
	}
	n.account(t, self)
	if !strings.Contains(string(export), `"by":"alice"`) {
		t.Error("the export does not name the administrator who erased")
	}
}
