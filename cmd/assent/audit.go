package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/localdb"
)

// auditSource is where `assent audit` reads: a data directory opened read-only, or a server.
type auditSource struct {
	dataDir, server, token string
	postgres               string // a PostgreSQL log to read instead of the data directory's store
	secretKeys             string // the keyring, when not the data directory's keys.json
	anchor                 string
	keys                   []string
}

// auditCommand groups the auditor's tools.
func auditCommand() *cobra.Command {
	src := &auditSource{}
	cmd := &cobra.Command{Use: "audit", Short: "Replay, rebuild and verify the event log; record an accepted loss",
		Long: "Replay, rebuild and verify the event log. With --server (or ASSENT_AUDIT_SERVER) the commands read the HTTP API " +
			"with an auditor token (--token or ASSENT_AUDITOR_TOKEN), and the server records each read; otherwise they open the " +
			"data directory's event store read-only (or the PostgreSQL log of --postgres; keys and anchor still come from --data-dir).",
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			src.dataDir, src.postgres, src.secretKeys = cfg.DataDir, cfg.Postgres, cfg.SecretKeys
			src.server, src.token = cfg.AuditServer, cfg.AuditorToken
			return nil
		}}
	config.Register(cmd.PersistentFlags(), "data-dir", "postgres", "secret-keys", "audit-server", "auditor-token")

	replay := &cobra.Command{Use: "replay STREAM", Short: "Print one stream's events as NDJSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if src.server != "" {
				return src.get(cmd.Context(), cmd.OutOrStdout(), "/v1/audit/streams/"+url.PathEscape(args[0]), true)
			}
			return src.withReader(cmd.Context(), func(r *audit.Reader) error {
				evs, err := r.Replay(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return writeNDJSON(cmd.OutOrStdout(), evs)
			})
		}}

	var asJSON bool
	timeline := &cobra.Command{Use: "timeline ACCOUNT-ID", Short: "Print an account's history, one summary line per event", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return fmt.Errorf("audit timeline: '%s' is not an account ID (a UUID)", args[0])
			}
			var evs []audit.EventView
			if src.server != "" {
				if err := src.getJSON(cmd.Context(), "/v1/audit/accounts/"+id.String()+"/timeline", &evs); err != nil {
					return err
				}
			} else if err := src.withReader(cmd.Context(), func(r *audit.Reader) error {
				evs, err = r.Timeline(cmd.Context(), id)
				return err
			}); err != nil {
				return err
			}
			if asJSON {
				return writeNDJSON(cmd.OutOrStdout(), evs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, e := range evs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Position, e.RecordedAt.Format(time.RFC3339), e.Stream, e.Summary)
			}
			return tw.Flush()
		}}
	timeline.Flags().BoolVar(&asJSON, "json", false, "print NDJSON instead of text")

	var at string
	var position uint64
	stateAt := &cobra.Command{Use: "state-at ACCOUNT-ID", Short: "Rebuild an account's state at a time (--at) or a position (--position)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return fmt.Errorf("audit state-at: '%s' is not an account ID (a UUID)", args[0])
			}
			b := audit.Bound{Position: eventstore.Position(position)}
			if at != "" {
				if b.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
					return fmt.Errorf("audit state-at: option 'at' must be an RFC 3339 time but it's configured as '%s'", at)
				}
			}
			if src.server != "" {
				q := url.Values{}
				if at != "" {
					q.Set("at", at)
				}
				if position > 0 {
					q.Set("position", strconv.FormatUint(position, 10))
				}
				return src.get(cmd.Context(), cmd.OutOrStdout(), "/v1/audit/accounts/"+id.String()+"/state?"+q.Encode(), false)
			}
			return src.withReader(cmd.Context(), func(r *audit.Reader) error {
				st, err := r.StateAt(cmd.Context(), id, b)
				if err != nil {
					return err
				}
				return writeIndented(cmd.OutOrStdout(), st)
			})
		}}
	stateAt.Flags().StringVar(&at, "at", "", "RFC 3339 time")
	stateAt.Flags().Uint64Var(&position, "position", 0, "log position")

	verify := &cobra.Command{Use: "verify", Short: "Verify hash chains, signed checkpoints and answer signatures; exit 1 when something does not hold", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep audit.Report
			if src.server != "" {
				if err := src.getJSON(cmd.Context(), "/v1/audit/verify", &rep); err != nil {
					return err
				}
			} else if err := src.withStore(cmd.Context(), func(s auditLog) error {
				opts, err := src.verifyOptions()
				if err != nil {
					return err
				}
				r, err := audit.Verify(cmd.Context(), s, opts)
				if err != nil {
					return err
				}
				rep = *r
				return nil
			}); err != nil {
				return err
			}
			printReport(cmd.OutOrStdout(), &rep)
			if !rep.OK {
				return errors.New("audit verify: the log does not hold")
			}
			return nil
		}}
	verify.Flags().StringVar(&src.anchor, "anchor", "", "a checkpoint saved earlier (JSON); default: the data directory's "+checkpoint.AnchorFile)
	verify.Flags().StringSliceVar(&src.keys, "key", nil, "trusted checkpoint public key (base64); default: derived from the data directory's keyring")

	var after uint64
	export := &cobra.Command{Use: "export", Short: "Print the log with its hash chain, secrets withheld, as NDJSON", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if src.server != "" {
				return src.get(cmd.Context(), cmd.OutOrStdout(), fmt.Sprintf("/v1/audit/export?after=%d&limit=1000000", after), false)
			}
			return src.withStore(cmd.Context(), func(s auditLog) error {
				sealed, err := offlineSealing(src.dataDir, src.secretKeys, s.(eventstore.Store)) // an embedded or PostgreSQL store
				if err != nil {
					return err
				}
				opener, _ := sealed.(audit.Opener)
				enc := json.NewEncoder(cmd.OutOrStdout())
				pos := eventstore.Position(after)
				for {
					evs, err := s.ReadAllChained(cmd.Context(), pos, 2000)
					if err != nil {
						return err
					}
					for i := range evs {
						if err := enc.Encode(audit.OpenedExportView(cmd.Context(), opener, &evs[i])); err != nil {
							return err
						}
						pos = evs[i].Position
					}
					if len(evs) < 2000 {
						return nil
					}
				}
			})
		}}
	export.Flags().Uint64Var(&after, "after", 0, "export events after this position")

	cmd.AddCommand(replay, timeline, stateAt, verify, export, auditTokenCommand(src), acceptLossCommand(src))
	return cmd
}

// auditTokenCommand creates auditor credentials.
func auditTokenCommand(src *auditSource) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create auditor credentials"}
	var name string
	create := &cobra.Command{Use: "create", Short: "Create an auditor token; its hash goes to <data-dir>/" + auditors.File + ", the token is printed once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(src.dataDir, 0o700); err != nil {
				return fmt.Errorf("audit token: %w", err)
			}
			token, err := auditors.Add(filepath.Join(src.dataDir, auditors.File), name, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			fmt.Fprintln(cmd.ErrOrStderr(), "auditor '"+name+"' created; restart the server to load it. The token is shown once.")
			return nil
		}}
	create.Flags().StringVar(&name, "name", "", "the auditor's name, recorded with each read")
	_ = create.MarkFlagRequired("name")
	hash := &cobra.Command{Use: "hash", Short: "Create a token and print it with its 'name:sha256' entry for ASSENT_AUDITOR_TOKENS", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, h, err := auditors.NewToken()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token: %s\nASSENT_AUDITOR_TOKENS entry: %s:%s\n", token, name, h)
			return nil
		}}
	hash.Flags().StringVar(&name, "name", "auditor", "the auditor's name")
	cmd.AddCommand(create, hash)
	return cmd
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

// auditLog is the log the audit commands read: the data directory's embedded store, opened
// read-only, or a PostgreSQL log (--postgres).
type auditLog interface {
	audit.ChainLog
}

// withStore calls f with the log to read: the PostgreSQL database of --postgres, else the data
// directory's event store, opened read-only.
func (src *auditSource) withStore(ctx context.Context, f func(auditLog) error) error {
	if src.postgres != "" {
		pg, err := postgres.Open(ctx, src.postgres, postgres.Options{})
		if err != nil {
			return fmt.Errorf("audit: open event store: %w", err)
		}
		defer pg.Close()
		return f(pg)
	}
	path := filepath.Join(src.dataDir, "events.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("audit: no event store in '%s': %w", src.dataDir, err)
	}
	s, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("audit: open event store: %w", err)
	}
	defer s.Close()
	return f(s)
}

// withReader calls f with a Reader over the data directory's event store, opened read-only.
// Its account index is folded into a temporary local database, removed on return: the data
// directory is not written, and the server's readmodels.db, which may be open, is not shared.
func (src *auditSource) withReader(ctx context.Context, f func(*audit.Reader) error) error {
	return src.withStore(ctx, func(s auditLog) error {
		dir, err := os.MkdirTemp("", "assent-audit-*")
		if err != nil {
			return fmt.Errorf("audit: a temporary index: %w", err)
		}
		defer os.RemoveAll(dir)
		db, err := localdb.Open(ctx, dir)
		if err != nil {
			return fmt.Errorf("audit: a temporary index: %w", err)
		}
		defer db.Close()
		sealed, err := offlineSealing(src.dataDir, src.secretKeys, s.(eventstore.Store)) // an embedded or PostgreSQL store
		if err != nil {
			return err
		}
		return f(audit.NewReader(sealed, db))
	})
}

// verifyOptions trusts the keys given, else the keys derived from the data directory's keyring
// (without creating one), and uses the anchor given, else the data directory's anchor file.
func (src *auditSource) verifyOptions() (audit.VerifyOptions, error) {
	var opts audit.VerifyOptions
	for _, k := range src.keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return opts, fmt.Errorf("audit verify: option 'key' must be a base64 Ed25519 public key but it's configured as '%s'", k)
		}
		opts.TrustedKeys = append(opts.TrustedKeys, raw)
	}
	if len(opts.TrustedKeys) == 0 {
		if _, err := os.Stat(filepath.Join(src.dataDir, keyfile.Name)); err == nil || src.secretKeys != "" {
			kr, err := keyfile.LoadOrCreate(src.dataDir, src.secretKeys)
			if err != nil {
				return opts, err
			}
			keys, err := checkpointKeys(kr)
			if err != nil {
				return opts, err
			}
			opts.TrustedKeys = keys
		}
	}
	anchor := src.anchor
	if anchor == "" {
		anchor = filepath.Join(src.dataDir, checkpoint.AnchorFile)
		if _, err := os.Stat(anchor); errors.Is(err, fs.ErrNotExist) {
			return opts, nil
		}
	}
	cp, err := checkpoint.ReadAnchor(anchor)
	if err != nil {
		return opts, err
	}
	opts.Anchor, opts.AnchorSource = cp, anchor
	return opts, nil
}

func (src *auditSource) request(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(src.server, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+src.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("audit: %s: %s %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// get copies a response body to w; with lines, a JSON array is printed as NDJSON.
func (src *auditSource) get(ctx context.Context, w io.Writer, path string, lines bool) error {
	resp, err := src.request(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if lines {
		var evs []json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		for _, e := range evs {
			fmt.Fprintf(w, "%s\n", e)
		}
		return nil
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (src *auditSource) getJSON(ctx context.Context, path string, v any) error {
	resp, err := src.request(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func writeNDJSON(w io.Writer, evs []audit.EventView) error {
	enc := json.NewEncoder(w)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printReport(w io.Writer, rep *audit.Report) {
	verdict := "OK: the log holds"
	if !rep.OK {
		verdict = "FAILED: the log does not hold"
	}
	fmt.Fprintf(w, "%s\n%d events in %d streams up to position %d; %d answer signatures and %d checkpoints checked\n",
		verdict, rep.Events, rep.Streams, rep.Head, rep.Approvals, rep.Checkpoints)
	if cp := rep.Checkpoint; cp != nil {
		src := "the log"
		if rep.AnchorUsed {
			src = "the anchor " + rep.AnchorSource
		}
		fmt.Fprintf(w, "compared with checkpoint #%d (position %d, %d streams, key %s) from %s\n", cp.Seq, cp.Position, cp.Streams, cp.KeyID, src)
	}
	if len(rep.KeysTrusted) == 0 {
		fmt.Fprintln(w, "no checkpoint key was pinned: each checkpoint was checked with the key it carries (pass --key)")
	}
	for _, f := range rep.Findings {
		loc := ""
		if f.Stream != "" {
			loc += " stream " + f.Stream
		}
		if f.Version != nil {
			loc += fmt.Sprintf(" version %d", *f.Version)
		}
		if f.Position != 0 {
			loc += fmt.Sprintf(" position %d", f.Position)
		}
		fmt.Fprintf(w, "%-5s %s%s: %s\n", f.Severity, f.Kind, loc, f.Message)
	}
}

// acceptLossCommand records that an operator accepts the loss of events the anchor reveals, so
// that the server starts again on the cut log. It writes to the data directory's store (the
// server must be stopped) and the acceptance stays in the log, where verify reports it.
func acceptLossCommand(src *auditSource) *cobra.Command {
	var reason, operator string
	cmd := &cobra.Command{Use: "accept-loss", Args: cobra.NoArgs,
		Short: "Record that the log lost events a signed checkpoint covers, so that the server starts again (the server must be stopped)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if src.postgres != "" {
				return errors.New("audit accept-loss: it records a loss in the embedded store of --data-dir; it does not take --postgres")
			}
			ctx := cmd.Context()
			anchorPath := filepath.Join(src.dataDir, checkpoint.AnchorFile)
			anchor, err := checkpoint.ReadAnchor(anchorPath)
			if err != nil {
				return fmt.Errorf("audit accept-loss: %w", err)
			}
			path := filepath.Join(src.dataDir, "events.db")
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("audit accept-loss: no event store in '%s': %w", src.dataDir, err)
			}
			s, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				return fmt.Errorf("audit accept-loss: open event store: %w", err)
			}
			defer s.Close()
			a, err := audit.AcceptLoss(ctx, s, s, anchor, s.Head(), operator, reason, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded in %s: operator %q accepted the loss of the events after position %d "+
				"(the anchor held checkpoint #%d of position %d); `assent audit verify` reports it from now on\n",
				audit.LossStream, a.Operator, a.LogHead, a.AnchorSeq, a.AnchorPosition)
			return nil
		}}
	cmd.Flags().StringVar(&reason, "reason", "", "why the loss is accepted (recorded)")
	cmd.Flags().StringVar(&operator, "operator", envOr("USER", "operator"), "who accepts it (recorded)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
