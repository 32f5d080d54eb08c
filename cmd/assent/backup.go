package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/localdb"
)

// storeFile is the embedded event store's file in a data directory.
const storeFile = "events.db"

// manifestFile describes a backup: when it was taken and the head it holds.
const manifestFile = "backup.json"

type backupManifest struct {
	CreatedAt time.Time `json:"created_at"`
	Head      uint64    `json:"head"`
	// Keys says where the keys that open the copy's sealed secrets went.
	Keys string `json:"keys"`
}

// backupCommand copies a data directory, of a running server or not, to a new directory.
func backupCommand() *cobra.Command {
	var to, keysTo string
	cmd := &cobra.Command{
		Use:   "backup --to DIR",
		Short: "Copy the embedded event store and its keys consistently, while the server runs",
		Long: "Copy the embedded event store of --data-dir (one consistent snapshot, read without the writer lock, " +
			"so a running server goes on), the audit anchor, the auditors file, and keys.json to --to, a directory " +
			"that must not hold a backup yet. --keys-to puts keys.json elsewhere: keep the keys apart from the data.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("backup: option 'to' must name a directory but it's configured as ''")
			}
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if cfg.EventStore != "" {
				return errors.New("backup: option 'eventstore' (ASSENT_EVENTSTORE) is set; assent backup copies the embedded store only, back EventStoreDB up with its own tools")
			}
			if cfg.Postgres != "" {
				return errors.New("backup: option 'postgres' (ASSENT_POSTGRES) is set; assent backup copies the embedded store only, back PostgreSQL up with its own tools")
			}
			if keysTo == "" {
				keysTo = to
			}
			return backup(cmd, cfg.DataDir, to, keysTo)
		},
	}
	config.Register(cmd.Flags(), "data-dir", "eventstore", "postgres")
	cmd.Flags().StringVar(&to, "to", "", "new directory for the copy")
	cmd.Flags().StringVar(&keysTo, "keys-to", "", "directory for keys.json (default: --to)")
	return cmd
}

func backup(cmd *cobra.Command, dataDir, to, keysTo string) error {
	src := filepath.Join(dataDir, storeFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no event store in '%s': %w", dataDir, err)
	}
	for _, d := range []string{to, keysTo} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	for _, p := range []string{filepath.Join(to, storeFile), filepath.Join(to, manifestFile), filepath.Join(keysTo, keyfile.Name)} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("backup: '%s' already exists; back up to a new directory", p)
		}
	}
	// The anchor first: the server writes it after the checkpoint it holds is in the log, so
	// the snapshot taken next holds that checkpoint, and verify finds the copy whole.
	for _, name := range []string{checkpoint.AnchorFile, auditors.File} {
		if _, err := copyIfExists(filepath.Join(dataDir, name), filepath.Join(to, name), 0o600); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	head, err := sqlite.Backup(cmd.Context(), src, filepath.Join(to, storeFile))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	keys := "not in the data directory: the keys are the ASSENT_SECRET_KEYS of the server; keep them apart from this copy"
	copied, err := copyIfExists(filepath.Join(dataDir, keyfile.Name), filepath.Join(keysTo, keyfile.Name), 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if copied {
		keys = filepath.Join(keysTo, keyfile.Name)
	}
	m := backupManifest{CreatedAt: time.Now().UTC(), Head: uint64(head), Keys: keys}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileSync(filepath.Join(to, manifestFile), raw, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "backup: the event store up to position %d is in %s\n", head, to)
	fmt.Fprintf(w, "keys: %s\n", keys)
	return nil
}

// restoreCommand puts a backup into a data directory after checking it with verify.
func restoreCommand() *cobra.Command {
	var from, keysFrom string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore --from DIR --data-dir DIR",
		Short: "Put a backup into a data directory after verifying it",
		Long: "Verify the backup in --from (hash chains, signed checkpoints with the backup's keys, the anchor) and " +
			"copy it into --data-dir. A backup that fails verify is refused. A data directory that already holds a " +
			"store is refused unless --force is given, and refused whatever the flags while a server has it open; " +
			"with --force its files are moved to a replaced-TIME directory inside it, not deleted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("restore: option 'from' must name a backup directory but it's configured as ''")
			}
			if keysFrom == "" {
				keysFrom = from
			}
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			return restore(cmd, from, keysFrom, cfg.DataDir, cfg.SecretKeys, force)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "directory of the backup")
	cmd.Flags().StringVar(&keysFrom, "keys-from", "", "directory of the backup's keys.json (default: --from)")
	config.Register(cmd.Flags(), "data-dir", "secret-keys")
	cmd.Flags().BoolVar(&force, "force", false, "replace the store of a data directory that holds one (never one in use)")
	return cmd
}

// restoredFiles are the files a backup holds and a restore puts in place, keys aside.
var restoredFiles = []string{storeFile, checkpoint.AnchorFile, auditors.File}

func restore(cmd *cobra.Command, from, keysFrom, dataDir, secretKeys string, force bool) error {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	copyPath := filepath.Join(from, storeFile)
	if _, err := os.Stat(copyPath); err != nil {
		return fmt.Errorf("restore: no backup in '%s': %w", from, err)
	}
	keysPath := filepath.Join(keysFrom, keyfile.Name)
	_, keysErr := os.Stat(keysPath)
	if keysErr != nil && secretKeys == "" {
		return fmt.Errorf("restore: no %s in '%s' and option 'secret-keys' (ASSENT_SECRET_KEYS) is not set: without the backup's keys its sealed secrets cannot be opened (give --keys-from)", keyfile.Name, keysFrom)
	}
	kr, err := keyfile.LoadOrCreate(keysFrom, secretKeys)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}

	// Verify the copy with the keys it will run with: checkpoints signed by another key fail.
	key, err := checkpoint.SigningKey(kr.DeriveKey("audit.checkpoint"))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	opts := audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}
	if anchor := filepath.Join(from, checkpoint.AnchorFile); fileExists(anchor) {
		if opts.Anchor, err = checkpoint.ReadAnchor(anchor); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		opts.AnchorSource = anchor
	}
	st, err := sqlite.Open(ctx, copyPath, sqlite.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("restore: open the backup: %w", err)
	}
	rep, err := audit.Verify(ctx, st, opts)
	st.Close()
	if err != nil {
		return fmt.Errorf("restore: verify the backup: %w", err)
	}
	printReport(w, rep)
	if !rep.OK {
		return fmt.Errorf("restore: the backup in '%s' fails verify; nothing was restored", from)
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	target := filepath.Join(dataDir, storeFile)
	var present []string
	for _, name := range append(restoredFiles, keyfile.Name, storeFile+"-wal") {
		if fileExists(filepath.Join(dataDir, name)) {
			present = append(present, name)
		}
	}
	if len(present) > 0 {
		if !force {
			return fmt.Errorf("restore: the data directory '%s' already holds %v; stop its server and pass --force to replace them (they are moved aside, not deleted)", dataDir, present)
		}
		if fileExists(target) {
			// Opening the store for writing takes its writer lock, which a running server holds.
			s, err := sqlite.Open(ctx, target, sqlite.Options{})
			if errors.Is(err, sqlite.ErrInUse) {
				return fmt.Errorf("restore: the data directory '%s' is in use by a running server; stop it first", dataDir)
			}
			if err != nil {
				return fmt.Errorf("restore: the store in '%s': %w", dataDir, err)
			}
			s.Close()
		}
		aside := filepath.Join(dataDir, "replaced-"+time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Mkdir(aside, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		// The node's own database goes aside too: its read models, snapshots and audit tables
		// were folded from the replaced log, and the restored node folds them again.
		local := []string{localdb.FileName, localdb.FileName + "-wal", localdb.FileName + "-shm"}
		for _, name := range append(append(restoredFiles, keyfile.Name, storeFile+"-wal", storeFile+"-shm", storeFile+".lock"), local...) {
			if err := os.Rename(filepath.Join(dataDir, name), filepath.Join(aside, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("restore: move aside: %w", err)
			}
		}
		fmt.Fprintf(w, "the data directory's previous files are in %s\n", aside)
	}
	for _, name := range restoredFiles {
		if _, err := copyIfExists(filepath.Join(from, name), filepath.Join(dataDir, name), 0o600); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if keysErr == nil {
		if _, err := copyIfExists(keysPath, filepath.Join(dataDir, keyfile.Name), 0o600); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	} else {
		fmt.Fprintln(w, "keys: none copied; start the server with the same ASSENT_SECRET_KEYS")
	}
	fmt.Fprintf(w, "restored %d events up to position %d into %s\n", rep.Events, rep.Head, dataDir)
	return nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// copyIfExists copies src to dst (which must not exist) through a temporary file, fsynced, and
// reports whether src existed.
func copyIfExists(src, dst string, mode os.FileMode) (bool, error) {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".restore-*")
	if err != nil {
		return true, err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return true, err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return true, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return true, err
	}
	if err := tmp.Close(); err != nil {
		return true, err
	}
	// A link, not a rename, so that an existing dst is never replaced.
	if err := os.Link(tmp.Name(), dst); err != nil {
		return true, err
	}
	return true, syncDir(filepath.Dir(dst))
}

func writeFileSync(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
