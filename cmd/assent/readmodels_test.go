package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
)

// startIn starts a node on the data directory dir; the caller stops it.
func startIn(t *testing.T, dir string, logw io.Writer) *node {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
}

func stopNode(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.srv.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// projectionsReady returns the status code and the projections check of /readyz.
func projectionsReady(t *testing.T, n *node) (int, string) {
	t.Helper()
	code, checks := readyz(t, n.url) // storage_test.go
	return code, checks["projections"]
}

// waitReady polls /readyz until it answers 200 and returns its projections check.
func waitReady(t *testing.T, n *node) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, msg := projectionsReady(t, n)
		if code == http.StatusOK {
			return msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d: projections %q", code, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appendEvent appends one event, encoded by the domain, to a new stream of the store.
func appendEvent(t *testing.T, store eventstore.Store, stream string, e domain.Event) {
	t.Helper()
	typ, ver, data, err := domain.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), stream, eventstore.NoStream(), eventstore.EventData{Type: typ, SchemaVersion: ver, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// TestRestartResumesFromCheckpointsAndMatchesRebuild stops a node whose read models are in
// its local database, appends to the log while it is down, and starts it again: the catch-up
// applies only the events appended meanwhile, and the read models then equal a rebuild from
// position zero.
func TestRestartResumesFromCheckpointsAndMatchesRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startIn(t, dir, io.Discard)
	// Ready before the first request, so that the start's catch-up of the empty log cannot
	// meet the first events (it would count them).
	waitReady(t, first)
	p := newPhone(t, "phone")
	for _, email := range []string{"r1@example.com", "r2@example.com"} {
		link(t, first, first.account(t, email), p)
	}
	p.connect(t, first)
	signIn(t, first, "r1@example.com") // a challenge left open
	recv(t, p.requests, "challenge")
	if msg := waitReady(t, first); msg != "ok" {
		t.Fatalf("projections check of a ready node: %q", msg)
	}
	if n := first.srv.readModels.caughtUpEvents.Load(); n != 0 {
		t.Fatalf("a node on a new data directory caught up %d events", n)
	}
	stopNode(t, first)
	checkpoint := first.srv.readModels.set.Position() // committed with the rows

	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	head := store.Head()
	var downIDs []uuid.UUID
	for i, email := range []string{"down1@example.com", "down2@example.com"} {
		id := uuid.Must(uuid.NewV7())
		downIDs = append(downIDs, id)
		addr, _ := domain.ParseEmail(email)
		appendEvent(t, store, domain.AccountStream(id), domain.AccountRegistered{AccountID: id, Email: addr, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: time.Now()})
		digest := sha256.Sum256([]byte{byte(i)})
		appendEvent(t, store, domain.SessionStream(digest[:]), domain.SessionStarted{AccountID: id, SessionDigest: digest[:], IP: "192.0.2.9", Expires: time.Now().Add(time.Hour), At: time.Now()})
	}
	store.Close()

	second := startIn(t, dir, io.Discard)
	defer stopNode(t, second)
	waitReady(t, second)
	if checkpoint == 0 || checkpoint > head {
		t.Fatalf("checkpoint at the stop %d, log head %d", checkpoint, head)
	}
	if n, want := second.srv.readModels.caughtUpEvents.Load(), int64(head+4-checkpoint); n != want {
		t.Fatalf("the restart applied %d events; want the %d after the checkpoint %d (log head %d before the 4 appended while down)", n, want, checkpoint, head)
	}
	live := second.srv.readModels.set
	if got := live.Position(); got < head+4 {
		t.Fatalf("restarted read models at %d, want at least %d", got, head+4)
	}
	for _, id := range downIDs {
		if l := live.Sessions.ForAccount(id, time.Now()); len(l) != 1 || l[0].IP != "192.0.2.9" {
			t.Errorf("sessions of an account whose session began while the node was down: %+v", l)
		}
	}
	rebuilt := projections.NewSet()
	rebuilt.Challenges.RetainFor(challengeRetention)
	opened, err := offlineSealing(dir, "", second.srv.store) // the read models hold what the keys open
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuilt.Rebuild(context.Background(), opened); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		live, want any
	}{
		{"accounts", live.Accounts.All(), rebuilt.Accounts.All()},
		{"devices", live.Devices.All(), rebuilt.Devices.All()},
		{"pending", live.Pending.All(), rebuilt.Pending.All()},
		{"challenges", live.Challenges.All(), rebuilt.Challenges.All()},
		{"sessions", live.Sessions.All(), rebuilt.Sessions.All()},
	} {
		if !reflect.DeepEqual(c.live, c.want) {
			t.Errorf("%s after the restart differ from a rebuild:\nrestart %+v\nrebuild %+v", c.name, c.live, c.want)
		}
	}
	if n := len(live.Accounts.All()); n != 4 {
		t.Errorf("%d accounts after the restart, want 4", n)
	}
	if n := len(live.Pending.All()); n != 1 {
		t.Errorf("%d open challenges after the restart, want the 1 left open", n)
	}
}

// TestPoisonEventSkippedAndReported appends straight to the store an account registration
// of a schema version newer than this code reads. The accounts read model records it, tries it
// MaxAttempts times and skips it with an ERROR log; the other read models and the device's
// pushes go on; /readyz stays ready and says so; the status command lists the event.
func TestPoisonEventSkippedAndReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &syncBuffer{}
	n := startIn(t, dir, logs)
	defer stopNode(t, n)
	ctx := ctxT(t)
	p := newPhone(t, "phone")
	link(t, n, n.account(t, "poison@example.com"), p)
	p.connect(t, n)

	id := uuid.Must(uuid.NewV7())
	res, err := n.srv.store.Append(ctx, domain.AccountStream(id), eventstore.NoStream(), eventstore.EventData{
		Type: domain.AccountRegistered{}.EventType(), SchemaVersion: 99, Data: []byte(`{"account_id":"` + id.String() + `","shape":"of the future"}`),
	})
	if err != nil {
		t.Fatal(err)
	}

	// Pushes and the other read models go on: a sign-in after the poison event is pushed,
	// approved, and its status read.
	b, si := signIn(t, n, "poison@example.com")
	r := recv(t, p.requests, "the challenge issued after the poison event")
	if r.ID != si.Challenge.ID {
		t.Fatalf("pushed %s, want %s", r.ID, si.Challenge.ID)
	}
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	st, err := b.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil || st.Status != "approved" {
		t.Fatalf("challenge after the poison event: %+v, %v", st, err)
	}
	views := n.srv.readModels.set
	if pos := views.Challenges.Position(); pos <= res.Position {
		t.Fatalf("challenges read model at %d, not past the poison event at %d", pos, res.Position)
	}
	if pos := views.Accounts.Position(); pos <= res.Position {
		t.Fatalf("accounts read model at %d, not past the poison event at %d", pos, res.Position)
	}
	if _, err := views.Accounts.Get(id); err == nil {
		t.Fatal("the accounts read model holds the account of the event it could not decode")
	}

	fs, err := views.Store().Failures(ctx)
	if err != nil || len(fs) != 1 {
		t.Fatalf("failed events: %+v, %v; want the one", fs, err)
	}
	if f := fs[0]; f.Projection != "accounts" || f.Position != res.Position || f.SchemaVersion != 99 || !f.Skipped || f.Attempts != projections.MaxAttempts || f.Error == "" {
		t.Fatalf("failed event %+v", f)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "read model skipped an event") {
		t.Fatalf("no ERROR log of the skipped event:\n%s", logs.String())
	}
	if code, msg := projectionsReady(t, n); code != http.StatusOK || !strings.Contains(msg, "1 events skipped") {
		t.Fatalf("/readyz after a skipped event: %d %q", code, msg)
	}

	var out bytes.Buffer
	root := rootCommand()
	root.SetOut(&out)
	root.SetArgs([]string{"projections", "status", "--data-dir", dir})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "account.registered") || !strings.Contains(s, "skipped") || !strings.Contains(s, "v99") {
		t.Fatalf("status does not show the failed event:\n%s", s)
	}
	for _, name := range []string{"accounts", "devices", "pending", "challenges", "signouts", "sessions"} {
		if !strings.Contains(s, name) {
			t.Errorf("status does not list %s:\n%s", name, s)
		}
	}
}

// TestReadyzSaysHowFarBehind checks the read models' readiness: catching up, with the lag in
// events, until the catch-up is done; then behind the log when the lag passes the bound; and
// not ready once the router has stopped.
func TestReadyzSaysHowFarBehind(t *testing.T) {
	t.Parallel()
	behind := 7
	r := &readModels{set: projections.NewSet(), lag: func(_ context.Context, _ eventstore.Position, limit int) (int, error) { return min(behind, limit), nil }}
	if err := r.Ready(context.Background()); err == nil || err.Error() != "catching up with the log: behind it by 7 events" {
		t.Fatalf("before the catch-up: %v", err)
	}
	r.caughtUp.Store(true)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("caught up, within the bound: %v", err)
	}
	behind = 5000
	if err := r.Ready(context.Background()); err == nil || err.Error() != fmt.Sprintf("behind the log by at least %d events", readyLag+1) {
		t.Fatalf("caught up but more than %d behind: %v", readyLag, err)
	}
	behind = 0
	r.stopped.Store(true)
	if err := r.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("router stopped: %v", err)
	}
}

// TestReadModelsAheadOfTheLogAreFoldedAgain gives a node the readmodels.db of another data
// directory whose log went further (as a backup restored beside an old readmodels.db would):
// its read models are ahead of its log, so the node folds them again from position zero, and
// they then hold this log's accounts only, as a rebuild does.
func TestReadModelsAheadOfTheLogAreFoldedAgain(t *testing.T) {
	t.Parallel()
	longer, shorter := t.TempDir(), t.TempDir()
	a := startIn(t, longer, io.Discard)
	for _, email := range []string{"a1@example.com", "a2@example.com", "a3@example.com"} {
		a.account(t, email)
	}
	waitReady(t, a)
	stopNode(t, a)
	b := startIn(t, shorter, io.Discard)
	b.account(t, "b1@example.com")
	waitReady(t, b)
	stopNode(t, b)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(shorter, localdb.FileName+suffix))
	}
	data, err := os.ReadFile(filepath.Join(longer, localdb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shorter, localdb.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	again := startIn(t, shorter, logs)
	defer stopNode(t, again)
	waitReady(t, again)
	var emails []string
	for _, v := range again.srv.readModels.set.Accounts.All() {
		emails = append(emails, v.Email)
	}
	if !reflect.DeepEqual(emails, []string{"b1@example.com"}) {
		t.Fatalf("accounts after a start on read models ahead of the log: %v, want only this log's b1@example.com", emails)
	}
	if !strings.Contains(logs.String(), "read models are ahead of the log") {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
}

// TestNewReadModelFoldsTheLogOnce starts a node on a readmodels.db written before the sessions
// read model existed (its tables dropped, its checkpoint gone; the others' kept): the start
// creates its tables, folds the whole log into it once, and lists the session begun before;
// the next start folds nothing again.
func TestNewReadModelFoldsTheLogOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startIn(t, dir, io.Discard)
	b := first.client()
	me, err := b.Register(ctxT(t), "older@example.com", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.SignIn(ctxT(t), "older@example.com", "correct horse battery staple"); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in: %+v %v", res, err) // a session begins
	}
	waitReady(t, first)
	stopNode(t, first)

	ctx := context.Background()
	db, err := localdb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP TABLE rm_sessions", "DROP TABLE rm_sessionaccounts", "DELETE FROM rm_checkpoints WHERE name = 'sessions'"} {
		if _, err := db.Writer.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	head := store.Head()
	store.Close()

	second := startIn(t, dir, io.Discard)
	waitReady(t, second)
	if n := second.srv.readModels.caughtUpEvents.Load(); n != int64(head) {
		t.Fatalf("the start after the new read model applied %d events; want the whole log, %d", n, head)
	}
	if l := second.srv.readModels.set.Sessions.ForAccount(me, time.Now()); len(l) != 1 {
		t.Fatalf("sessions of the account after the new read model's first fold: %+v", l)
	}
	stopNode(t, second)

	third := startIn(t, dir, io.Discard)
	defer stopNode(t, third)
	waitReady(t, third)
	if n := third.srv.readModels.caughtUpEvents.Load(); n != 0 {
		t.Fatalf("the start after that applied %d events; want none", n)
	}
	if l := third.srv.readModels.set.Sessions.ForAccount(me, time.Now()); len(l) != 1 {
		t.Fatalf("sessions of the account after a restart: %+v", l)
	}
}
