package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
	QueryRow(query string, args ...any) *sql.Row
}

// withDB opens the file read-write with a plain connection, as someone tampering would.
func withDB(t *testing.T, path string, f func(db execer)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f(db)
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
}

func mustExec(t *testing.T, db execer, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func errorsOf(rep *audit.Report) []audit.Finding {
	var out []audit.Finding
	for _, f := range rep.Findings {
		if f.Severity == audit.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// hasFinding reports whether rep holds an error of kind about stream (any stream when "")
// at version (any when -1).
func hasFinding(rep *audit.Report, kind, stream string, version int64) bool {
	for _, f := range errorsOf(rep) {
		if f.Kind == kind && (stream == "" || f.Stream == stream) && (version < 0 || (f.Version != nil && *f.Version == version)) {
			return true
		}
	}
	return false
}

func TestVerifyIntactLogHolds(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 5)
	h.checkpoint(t)
	h.approve(t, 5)
	cp2 := h.checkpoint(t)
	if cp2.Seq != 2 || len(cp2.Changed) != 3 { // the account, the new challenge, the checkpoint stream
		t.Fatalf("second checkpoint: seq %d, changed %+v", cp2.Seq, cp2.Changed)
	}
	if again, err := h.cp.Checkpoint(ctxT(t)); err != nil || again != nil {
		t.Fatalf("a checkpoint with nothing new: %v %v", again, err)
	}
	rep := h.tamperAndVerify(t, nil)
	if !rep.OK || len(errorsOf(rep)) != 0 {
		t.Fatalf("intact log: %+v", rep.Findings)
	}
	if rep.Approvals != 6 || rep.Checkpoints != 2 || rep.Checkpoint == nil || rep.Checkpoint.Seq != 2 {
		t.Fatalf("report: %d answers, %d checkpoints, %+v", rep.Approvals, rep.Checkpoints, rep.Checkpoint)
	}
}

func TestVerifyNamesEachTampering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, h *history) func(db execer)
		check func(t *testing.T, h *history, rep *audit.Report, format int)
	}{{
		name: "one byte of an event changed in the file",
		setup: func(t *testing.T, h *history) func(db execer) {
			return nil // the file is edited below, byte by byte
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			if !hasFinding(rep, audit.FindChainBroken, domain.AccountStream(h.account), 0) {
				t.Fatalf("want chain_broken at version 0 of the account: %+v", rep.Findings)
			}
		},
	}, {
		name: "an event deleted",
		setup: func(t *testing.T, h *history) func(db execer) {
			return func(db execer) {
				mustExec(t, db, `DELETE FROM events WHERE position = (SELECT position FROM stream_index WHERE stream = ? AND version = 2)`, domain.AccountStream(h.account))
			}
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			if !hasFinding(rep, audit.FindVersionsMissing, domain.AccountStream(h.account), 3) || !hasFinding(rep, audit.FindPositionsMissing, "", -1) {
				t.Fatalf("want versions_missing at version 3 and positions_missing: %+v", rep.Findings)
			}
		},
	}, {
		name: "two events swapped",
		setup: func(t *testing.T, h *history) func(db execer) {
			return func(db execer) {
				// The device's registration (position 2) and its link (position 3) change places.
				mustExec(t, db, `UPDATE events SET position = -1 WHERE position = 2`)
				mustExec(t, db, `UPDATE events SET position = 2 WHERE position = 3`)
				mustExec(t, db, `UPDATE events SET position = 3 WHERE position = -1`)
			}
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			// A base checkpoint (FormatBase) lists no heads: the device's head, which no later
			// event links to, is caught by the root of the log's heads, without its name.
			if !hasFinding(rep, audit.FindChainBroken, domain.AccountStream(h.account), 1) ||
				(format != checkpoint.FormatBase && !hasFinding(rep, audit.FindHeadAltered, domain.DeviceStream(h.device), 0)) ||
				(format == checkpoint.FormatBase && !hasFinding(rep, audit.FindRootMismatch, checkpoint.Stream, 0)) {
				t.Fatalf("format %d: want the account's version 1 and the device's version 0 (or the base's root) named: %+v", format, rep.Findings)
			}
		},
	}, {
		name: "the index row of the account's last event deleted",
		setup: func(t *testing.T, h *history) func(db execer) {
			return func(db execer) {
				mustExec(t, db, `DELETE FROM stream_index WHERE stream = ? AND version = (SELECT max(version) FROM stream_index WHERE stream = ?)`,
					domain.AccountStream(h.account), domain.AccountStream(h.account))
			}
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			if !hasFinding(rep, audit.FindIndexMismatch, domain.AccountStream(h.account), -1) {
				t.Fatalf("want index_mismatch naming the account stream: %+v", rep.Findings)
			}
		},
	}, {
		name: "a whole stream deleted",
		setup: func(t *testing.T, h *history) func(db execer) {
			return func(db execer) {
				mustExec(t, db, `DELETE FROM events WHERE position IN (SELECT position FROM stream_index WHERE stream = ?)`, domain.ChallengeStream(h.challenge[1]))
			}
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			if format != checkpoint.FormatBase && !hasFinding(rep, audit.FindStreamMissing, domain.ChallengeStream(h.challenge[1]), -1) {
				t.Fatalf("want stream_missing for the challenge: %+v", rep.Findings)
			}
			if format == checkpoint.FormatBase && !hasFinding(rep, audit.FindRootMismatch, checkpoint.Stream, 0) {
				t.Fatalf("want root_mismatch at the base checkpoint: %+v", rep.Findings)
			}
		},
	}, {
		name: "the tail cut, its checkpoint with it",
		setup: func(t *testing.T, h *history) func(db execer) {
			h.approve(t, 9)
			h.checkpoint(t) // #2, also in the anchor file
			return func(db execer) {
				var head int64
				if err := db.QueryRow(`SELECT max(position) FROM events`).Scan(&head); err != nil {
					t.Fatal(err)
				}
				mustExec(t, db, `DELETE FROM events WHERE position > ?`, head-3) // checkpoint #2 and the last challenge
			}
		},
		check: func(t *testing.T, h *history, rep *audit.Report, format int) {
			if !hasFinding(rep, audit.FindTailCut, "", -1) || !hasFinding(rep, audit.FindStreamMissing, domain.ChallengeStream(h.challenge[len(h.challenge)-1]), -1) {
				t.Fatalf("want tail_cut and the last challenge's stream named: %+v", rep.Findings)
			}
		},
	}} {
		for _, format := range []int{checkpoint.FormatBuckets, checkpoint.FormatBase} {
			t.Run(fmt.Sprintf("%s/format %d", tc.name, format), func(t *testing.T) {
				t.Parallel()
				h := newHistory(t, 3)
				h.signWith(format, 0)
				h.checkpoint(t)
				tamper := tc.setup(t, h)
				if tamper == nil {
					if err := h.store.Close(); err != nil {
						t.Fatal(err)
					}
					flipByte(t, h.path, []byte("ada@example.com"))
				}
				rep := h.tamperAndVerify(t, tamper)
				if rep.OK {
					t.Fatalf("verify says the log holds: %+v", rep.Findings)
				}
				tc.check(t, h, rep, format)
			})
		}
	}
}

// flipByte changes one byte of each occurrence of marker in the file (SQLite may keep a stale
// copy of a page in its free list; the live one is among them).
func flipByte(t *testing.T, path string, marker []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(raw, marker) == 0 {
		t.Fatalf("marker %q not in the file", marker)
	}
	for i := bytes.Index(raw, marker); i >= 0; i = bytes.Index(raw, marker) {
		raw[i] = 'e' // "ada@…" becomes "eda@…"
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRefusesAForgedAnswerAndAForeignCheckpointKey(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 1)
	// An approval signed by a key that is not the device's.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	id := uuid.New()
	lc := domain.LoginContext{UserAgent: "curl", IP: "198.51.100.9", At: h.t0}
	d := lc.Digest()
	h.append(t, domain.ChallengeStream(id),
		domain.ChallengeIssued{ChallengeID: id, AccountID: h.account, Number: 42, Context: lc, ContextDigest: d[:],
			Devices: []domain.ChallengeDevice{{DeviceID: h.device, PublicKey: h.key.Public().(ed25519.PublicKey)}}, At: h.t0},
		domain.ChallengeApproved{ChallengeID: id, AccountID: h.account, DeviceID: h.device, Number: 42,
			Signature: ed25519.Sign(other, domain.SignedAnswerPayload(id, domain.AnswerApprove, 42, d[:])), At: h.t0})
	// A checkpoint signed with a key the auditor does not trust.
	_, foreign, _ := ed25519.GenerateKey(rand.Reader)
	cp := checkpointer.New(checkpointer.Config{Log: h.store, Appender: h.store, Key: foreign, DB: localDB(t)})
	if _, err := cp.Checkpoint(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	rep := h.tamperAndVerify(t, nil)
	if !hasFinding(rep, audit.FindSignatureBad, domain.ChallengeStream(id), 1) {
		t.Fatalf("want the forged approval named: %+v", rep.Findings)
	}
	if !hasFinding(rep, audit.FindCheckpointBad, checkpoint.Stream, 0) {
		t.Fatalf("want the foreign checkpoint named: %+v", rep.Findings)
	}
	if rep.Approvals != 2 {
		t.Fatalf("answers checked: %d", rep.Approvals)
	}
}

// A schema-1 file (before the hash chain) is migrated on its first read-write opening, and
// the chain it gets verifies.
func TestSchema1FileIsMigratedAndVerifies(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/events.db"
	withDB(t, path, func(db execer) {
		mustExec(t, db, `CREATE TABLE events (position INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, stream TEXT NOT NULL, version INTEGER NOT NULL,
			type TEXT NOT NULL, schema_version INTEGER NOT NULL, data BLOB NOT NULL, correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL,
			actor TEXT NOT NULL, recorded_at INTEGER NOT NULL, UNIQUE (stream, version))`)
		mustExec(t, db, `CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at INTEGER NOT NULL)`)
		mustExec(t, db, fmt.Sprintf(`PRAGMA application_id = %d`, 0x41534E54))
		mustExec(t, db, `PRAGMA user_version = 1`)
		for i := range 5 {
			id := uuid.New()
			mustExec(t, db, `INSERT INTO events VALUES (?, ?, ?, ?, 'test.happened', 1, ?, '', '', '', ?)`,
				i+1, id[:], fmt.Sprintf("s-%d", i%2), i/2, fmt.Appendf(nil, `{"n":%d}`, i), 1_700_000_000_000_000_000+int64(i))
		}
	})
	s, err := sqlite.Open(ctxT(t), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctxT(t), "s-0", eventstore.Exact(2), eventstore.EventData{Type: "test.happened", SchemaVersion: 1, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctxT(t), s, audit.VerifyOptions{})
	s.Close()
	if err != nil || len(errorsOf(rep)) != 0 || rep.Events != 6 {
		t.Fatalf("migrated file: %v %+v", err, rep)
	}
}
