// Package storegen builds a large, realistic embedded store for measurement: accounts
// registered with a real argon2id hash, devices linked with sealed TOTP secrets and backup
// codes, and a history of sign-ins (challenges issued, delivered, approved or passed with a
// TOTP code, and redeemed), wrong passwords and sign-outs. Every event is decided by the domain
// and encoded by its registry, as the application would, and written through the SQLite store's
// bulk path (AppendBatch) in large batches.
package storegen

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/secrets"
)

// ManifestFile is the file, in the data directory, that says how a store was generated: what a
// measurement needs to sign in on its accounts (their emails, the password, the seed from which
// every device key and TOTP secret was derived). It holds secrets: its mode is 0600, and a
// generated store is for measurement only.
const ManifestFile = "generated.json"

// Errors of Generate.
var (
	// ErrNotEmpty is returned when the data directory already holds an event store.
	ErrNotEmpty = errors.New("storegen: the data directory already holds an event store (events.db); generate into an empty one")
	// ErrInvalidConfig is matched by every configuration problem.
	ErrInvalidConfig = errors.New("storegen: invalid configuration")
)

// Config says what to generate. Zero fields take their defaults.
type Config struct {
	// DataDir is where events.db, keys.json and generated.json are written. Required.
	DataDir string
	// Accounts is the number of accounts. Default 1,000,000.
	Accounts int
	// Events is the number of events to write, about (the last sign-in of an account is
	// written whole). Default 10,000,000.
	Events int
	// Seed makes the emails, device keys and TOTP secrets reproducible. Default: random.
	Seed string
	// Password is every account's password. Default DefaultPassword.
	Password string
	// BatchEvents is the number of events written per transaction. Default 16384.
	BatchEvents int
	// Progress, if set, is called after every batch with the events written so far.
	Progress func(events int)
}

// DefaultPassword is the password of every generated account, unless Config.Password says
// otherwise.
const DefaultPassword = "generated password 1"

func (c *Config) setDefaults() {
	if c.Accounts == 0 {
		c.Accounts = 1_000_000
	}
	if c.Events == 0 {
		c.Events = 10_000_000
	}
	if c.Password == "" {
		c.Password = DefaultPassword
	}
	if c.BatchEvents == 0 {
		c.BatchEvents = 16384
	}
	if c.Seed == "" {
		var b [16]byte
		for i := range b {
			b[i] = byte(mrand.Uint32())
		}
		c.Seed = hex.EncodeToString(b[:])
	}
}

// Validate returns every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%w: option 'data-dir' must be set but it's not configured", ErrInvalidConfig))
	}
	if c.Accounts < 1 {
		errs = append(errs, fmt.Errorf("%w: option 'accounts' must be at least 1 but it's configured as '%d'", ErrInvalidConfig, c.Accounts))
	}
	if c.Events < 2*c.Accounts {
		errs = append(errs, fmt.Errorf("%w: option 'events' must be at least twice 'accounts' (a registration is 2 events) but it's configured as '%d' for %d accounts", ErrInvalidConfig, c.Events, c.Accounts))
	}
	if len(c.Password) < 8 || len(c.Password) > secrets.MaxPasswordLen {
		errs = append(errs, fmt.Errorf("%w: option 'password' must be 8 to %d bytes but it's %d", ErrInvalidConfig, secrets.MaxPasswordLen, len(c.Password)))
	}
	if c.BatchEvents < 1 {
		errs = append(errs, fmt.Errorf("%w: option 'batch-events' must be at least 1 but it's configured as '%d'", ErrInvalidConfig, c.BatchEvents))
	}
	return errors.Join(errs...)
}

// Manifest is the content of ManifestFile.
type Manifest struct {
	Accounts int    `json:"accounts"`
	Events   int    `json:"events"`
	Seed     string `json:"seed"`
	Password string `json:"password"`
	// EmailFormat is the fmt format of account i's email (i from 0).
	EmailFormat string `json:"email_format"`
	// LinkedEvery: account i has a device (and 2FA) unless i % LinkedEvery == LinkedEvery-1.
	LinkedEvery int `json:"linked_every"`
}

const (
	emailFormat = "user%d@generated.example"
	linkedEvery = 5 // four accounts in five link a device
)

// Email returns account i's email.
func (m Manifest) Email(i int) string { return fmt.Sprintf(m.EmailFormat, i) }

// Linked says whether account i has a device linked, and so 2FA on.
func (m Manifest) Linked(i int) bool { return i%m.LinkedEvery != m.LinkedEvery-1 }

// TOTPSecret returns the TOTP secret of account i's device.
func (m Manifest) TOTPSecret(i int) (secrets.TOTPSecret, error) {
	return secrets.TOTPSecretFromBytes(derive(m.Seed, "totp", i)[:20])
}

// DeviceSeed returns the Ed25519 seed of account i's device.
func (m Manifest) DeviceSeed(i int) []byte { return derive(m.Seed, "device", i) }

// derive returns HMAC-SHA256(seed, purpose || i): 32 bytes.
func derive(seed, purpose string, i int) []byte {
	mac := hmac.New(sha256.New, []byte(seed))
	mac.Write([]byte(purpose))
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return mac.Sum(nil)
}

// ReadManifest reads the manifest of a generated data directory.
func ReadManifest(dataDir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dataDir, ManifestFile))
	if err != nil {
		return m, fmt.Errorf("storegen: %w (is %s a generated data directory? assent generate makes one)", err, dataDir)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("storegen: %s: %w", ManifestFile, err)
	}
	return m, nil
}

// Result is what Generate wrote and how long it took.
type Result struct {
	Accounts, Events, SignIns int
	// Steps is the number of commands decided (the clock moved one tick for each).
	Steps int
	// Took is the whole run; Hashing the one argon2id hash.
	Took, Hashing time.Duration
}

// Generate builds the store in cfg.DataDir.
func Generate(ctx context.Context, cfg Config) (Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	began := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return Result{}, fmt.Errorf("storegen: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "events.db")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("%w: %s", ErrNotEmpty, cfg.DataDir)
	}
	keyring, err := keyfile.LoadOrCreate(cfg.DataDir, "")
	if err != nil {
		return Result{}, err
	}
	m := Manifest{Accounts: cfg.Accounts, Events: cfg.Events, Seed: cfg.Seed, Password: cfg.Password, EmailFormat: emailFormat, LinkedEvery: linkedEvery}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, ManifestFile), raw, 0o600); err != nil {
		return Result{}, fmt.Errorf("storegen: %w", err)
	}
	// One argon2id hash, with the server's default parameters, for every account: hashing a
	// million passwords would take hours and change nothing the store holds but the salts.
	hashed := time.Now()
	hash, err := secrets.DefaultArgon2Params().Hash(cfg.Password, nil)
	if err != nil {
		return Result{}, err
	}
	hashing := time.Since(hashed)

	// The events of a batch are recorded at the simulated time of its last decision.
	var recordedAt atomic.Int64
	store, err := sqlite.Open(ctx, path, sqlite.Options{Now: func() time.Time { return time.Unix(0, recordedAt.Load()) },
		IndexBatch: 1 << 20, IndexDelay: time.Hour})
	if err != nil {
		return Result{}, err
	}
	g := newGenerator(cfg, m, keyring, hash)

	// One goroutine decides and encodes, the caller's writes: the two run on two cores.
	batches := make(chan batch, 2)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	genErr := make(chan error, 1)
	go func() {
		defer close(batches)
		genErr <- g.run(gctx, func(b batch) bool {
			select {
			case batches <- b:
				return true
			case <-gctx.Done():
				return false
			}
		})
	}()
	written := 0
	var werr error
	for b := range batches {
		if werr != nil {
			continue
		}
		recordedAt.Store(b.at.UnixNano())
		if _, err := store.AppendBatch(ctx, b.appends); err != nil {
			werr = fmt.Errorf("storegen: write a batch: %w", err)
			cancel()
			continue
		}
		written += b.events
		if cfg.Progress != nil {
			cfg.Progress(written)
		}
	}
	gerr := <-genErr
	if errors.Is(gerr, context.Canceled) && werr != nil {
		gerr = nil
	}
	if cerr := store.Close(); werr == nil && gerr == nil && cerr != nil {
		werr = cerr
	}
	if err := errors.Join(werr, gerr); err != nil {
		return Result{}, err
	}
	return Result{Accounts: cfg.Accounts, Events: written, SignIns: g.signIns, Steps: g.steps, Took: time.Since(began), Hashing: hashing}, nil
}

// batch is the appends of one transaction.
type batch struct {
	appends []eventstore.StreamAppend
	events  int
	at      time.Time
}

// newID returns a UUIDv7 drawn from the generator's fast random source.
func (g *generator) newID() uuid.UUID {
	id, err := uuid.NewV7FromReader(g.rng)
	if err != nil {
		panic(err) // the reader is a ChaCha8 stream, which never fails
	}
	return id
}
