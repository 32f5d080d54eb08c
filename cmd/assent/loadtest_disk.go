package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// diskOptions are the flags of assent loadtest disk.
type diskOptions struct {
	DataDir string
	Paces   []time.Duration
	Appends int
}

// diskWarmup is the number of appends made on a new scratch store before any is timed: the
// first commits create the WAL and grow the files.
const diskWarmup = 10

func loadDiskCommand() *cobra.Command {
	o := diskOptions{Paces: []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 15 * time.Millisecond, 50 * time.Millisecond}, Appends: 200}
	cmd := &cobra.Command{
		Use:   "disk",
		Short: "Time the embedded store's durable appends, one at a time at several paces, on the disk of a data directory",
		Long: `disk makes a scratch embedded store in a new directory inside --data-dir (the same file
system as the server's events.db), appends one event at a time to it, --appends times at each
--pace (the wait between one append's return and the next), and prints for each pace the
append's time (begin to durable, as the store's writer times it), its COMMIT alone (the WAL's
write and fsync, synchronous=FULL), and a bare fsync of a 4 KiB overwrite at the same pace.
The scratch directory is removed at the end; the server's own files are not touched.

A push waits for its challenge's durable append, so the append's median at the pace of the
commits under load (about 15 ms at 20 sign-ins a second) is the floor of the push latency on
that disk. Many virtual disks answer a sync more slowly the longer they have been idle: the
paces show it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runDisk(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "", "the directory whose disk to measure (the server's --data-dir); a scratch store is made inside it and removed")
	f.DurationSliceVar(&o.Paces, "pace", o.Paces, "waits between one append and the next, one run each")
	f.IntVar(&o.Appends, "appends", o.Appends, "appends timed at each pace")
	return cmd
}

func (o diskOptions) validate() error {
	if o.DataDir == "" {
		return errors.New("loadtest disk: option 'data-dir' must be set but it's not configured")
	}
	if o.Appends < 1 {
		return fmt.Errorf("loadtest disk: option 'appends' must be at least 1 but it's configured as '%d'", o.Appends)
	}
	if len(o.Paces) == 0 {
		return errors.New("loadtest disk: option 'pace' must name at least one wait but it's empty")
	}
	for _, p := range o.Paces {
		if p < 0 {
			return fmt.Errorf("loadtest disk: option 'pace' must hold waits of 0 or more but it holds '%v'", p)
		}
	}
	return nil
}

// diskTimes are the times of one pace's appends.
type diskTimes struct {
	append, took, commit, fsync []time.Duration
}

func runDisk(ctx context.Context, o diskOptions, w io.Writer) error {
	if st, err := os.Stat(o.DataDir); err != nil || !st.IsDir() {
		return fmt.Errorf("loadtest disk: %s is not a directory", o.DataDir)
	}
	scratch, err := os.MkdirTemp(o.DataDir, ".assent-disk-")
	if err != nil {
		return fmt.Errorf("loadtest disk: make a scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	fmt.Fprintf(w, "disk of %s: %d appends of one event at each pace, after %d untimed\n", o.DataDir, o.Appends, diskWarmup)
	for i, pace := range o.Paces {
		t, err := diskPace(ctx, filepath.Join(scratch, fmt.Sprintf("pace-%d", i)), pace, o.Appends)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("every %v", pace)
		if pace == 0 {
			label = "back to back"
		}
		fmt.Fprintf(w, "%-13s append %s (Append called to Append returned)\n", label, latencies(t.append))
		fmt.Fprintf(w, "%-13s writer %s (the writer's transaction: begin to durable)\n", "", latencies(t.took))
		fmt.Fprintf(w, "%-13s COMMIT %s (the WAL's write and fsync)\n", "", latencies(t.commit))
		fmt.Fprintf(w, "%-13s fsync  %s (a bare 4 KiB overwrite, for comparison)\n", "", latencies(t.fsync))
	}
	return nil
}

// diskPace times n appends to a new store in dir, pace apart, then n bare fsyncs of a file in
// dir at the same pace.
func diskPace(ctx context.Context, dir string, pace time.Duration, n int) (diskTimes, error) {
	var t diskTimes
	if err := os.Mkdir(dir, 0o700); err != nil {
		return t, fmt.Errorf("loadtest disk: %w", err)
	}
	// Each append is one commit here; the writer reports it after it has answered the append.
	// OnCommit must not block: the channel holds every commit of the run.
	commits := make(chan sqlite.CommitStats, diskWarmup+n)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{OnCommit: func(cs sqlite.CommitStats) {
		select {
		case commits <- cs:
		default:
		}
	}})
	if err != nil {
		return t, fmt.Errorf("loadtest disk: open a scratch store: %w", err)
	}
	defer store.Close()
	// An event of the size of a challenge's, whose body a sealed login context fills.
	data := []byte(`{"probe":"` + strings.Repeat("x", 600) + `"}`)
	for i := range diskWarmup + n {
		if i > 0 && !sleepCtx(ctx, pace) {
			return t, ctx.Err()
		}
		began := time.Now()
		_, err := store.Append(ctx, fmt.Sprintf("disk-probe-%d", i), eventstore.NoStream(),
			eventstore.EventData{Type: "disk.probed", SchemaVersion: 1, Data: data})
		took := time.Since(began)
		if err != nil {
			return t, fmt.Errorf("loadtest disk: append: %w", err)
		}
		cs := <-commits
		if i < diskWarmup {
			continue
		}
		t.append = append(t.append, took)
		t.took = append(t.took, cs.Took)
		t.commit = append(t.commit, cs.Sync)
	}
	if t.fsync, err = bareFsyncs(ctx, filepath.Join(dir, "fsync"), pace, n); err != nil {
		return t, err
	}
	return t, nil
}

// bareFsyncs overwrites 4 KiB of a preallocated file and fsyncs it, n times, pace apart.
func bareFsyncs(ctx context.Context, path string, pace time.Duration, n int) ([]time.Duration, error) {
	const blocks = 256
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("loadtest disk: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, blocks*4096)); err != nil {
		return nil, fmt.Errorf("loadtest disk: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("loadtest disk: %w", err)
	}
	buf := []byte(strings.Repeat("a", 4096))
	var ds []time.Duration
	for i := range diskWarmup + n {
		if !sleepCtx(ctx, pace) {
			return nil, ctx.Err()
		}
		if _, err := f.WriteAt(buf, int64(i%blocks)*4096); err != nil {
			return nil, fmt.Errorf("loadtest disk: %w", err)
		}
		began := time.Now()
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("loadtest disk: fsync: %w", err)
		}
		if i >= diskWarmup {
			ds = append(ds, time.Since(began))
		}
	}
	return ds, nil
}

// sleepCtx waits d, or less if ctx ends first; it says whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
