package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
)

// TestCutTailRefusesToStartUntilTheLossIsAccepted runs a node on a data directory, writes,
// stops (the shutdown checkpoint goes to the log and to the anchor file), and does so twice;
// then deletes the last events and the last checkpoint with SQL. The node refuses to start,
// naming the checkpoints and the command that accepts the loss, and leaves the anchor as it
// was. `assent audit accept-loss` records the loss; the node then starts and signs again, and
// `assent audit verify` holds, reporting the recorded acceptance.
func TestCutTailRefusesToStartUntilTheLossIsAccepted(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	run := func(emails ...string) error {
		t.Helper()
		cfg := config.Defaults()
		cfg.DataDir = dir
		cfg.Listen = "127.0.0.1:0"
		srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
		if err != nil {
			return err
		}
		c := client.New("http://" + srv.Addr())
		for _, e := range emails {
			if _, err := c.Register(ctx, e, "correct horse battery staple"); err != nil {
				t.Fatal(err)
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(sctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		return nil
	}
	if err := run("first@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := run("second@example.com"); err != nil {
		t.Fatal(err)
	}
	anchorPath := filepath.Join(dir, checkpoint.AnchorFile)
	anchor, err := checkpoint.ReadAnchor(anchorPath)
	if err != nil || anchor.Seq != 2 {
		t.Fatalf("anchor after two runs: %+v, %v; want checkpoint #2", anchor, err)
	}
	anchorBytes, _ := os.ReadFile(anchorPath)

	// Cut the tail: the second registration and checkpoint #2.
	db, err := sql.Open("sqlite", filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM events WHERE position > 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	err = run()
	if !errors.Is(err, audit.ErrLogCut) {
		t.Fatalf("start on a cut log: %v, want ErrLogCut", err)
	}
	for _, want := range []string{"checkpoint #2 of position 5", "the log ends at position 3", "its last checkpoint is #1", "assent audit accept-loss"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	if now, _ := os.ReadFile(anchorPath); !bytes.Equal(now, anchorBytes) {
		t.Fatal("a refused start changed the anchor file")
	}

	cli := func(args ...string) (string, error) {
		cmd := rootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	if out, err := cli("audit", "verify", "--data-dir", dir); err == nil || !strings.Contains(out, "tail_cut") {
		t.Fatalf("verify of the cut log: %v\n%s", err, out)
	}
	if _, err := cli("audit", "accept-loss", "--data-dir", dir, "--operator", "alice", "--reason", " "); err == nil {
		t.Fatal("accept-loss without a reason was taken")
	}
	out, err := cli("audit", "accept-loss", "--data-dir", dir, "--operator", "alice", "--reason", "the disk was restored from last night's snapshot")
	if err != nil || !strings.Contains(out, "after position 3") {
		t.Fatalf("accept-loss: %v\n%s", err, out)
	}

	if err := run("third@example.com"); err != nil {
		t.Fatalf("start once the loss is accepted: %v", err)
	}
	if a, err := checkpoint.ReadAnchor(anchorPath); err != nil || bytes.Equal(a.Signature, anchor.Signature) {
		t.Fatalf("the node signed no new checkpoint over the accepted log: %v", err)
	}
	out, err = cli("audit", "verify", "--data-dir", dir)
	if err != nil {
		t.Fatalf("verify after the accepted loss: %v\n%s", err, out)
	}
	for _, want := range []string{"OK", "loss_accepted", `operator "alice" accepted the loss of the events after position 3`, "last night's snapshot"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify does not say %q:\n%s", want, out)
		}
	}
	if _, err := cli("audit", "accept-loss", "--data-dir", dir, "--reason", "again"); !errors.Is(err, audit.ErrNothingLost) {
		t.Errorf("accept-loss on a whole log: %v, want ErrNothingLost", err)
	}
}
