package sqlite

import (
	"time"
)

// When the writer checkpoints the WAL: after this many commits, or after this long with at
// least one commit.
const (
	checkpointCommits = 300
	checkpointEvery   = time.Second
)

// checkpoint copies the WAL's committed pages back into the database file when one is due. The
// writer calls it between commits, once the appends of the last one are acknowledged.
//
// SQLite's default runs a checkpoint inside the commit that takes the WAL past 1,000 pages:
// that commit, and every append in it, then waits for the pages to be copied and the database
// file to be fsynced. Here the writer's connection has automatic checkpoints off
// (wal_autocheckpoint(0)) and runs a PASSIVE checkpoint itself, after acknowledging a batch:
// only the appends that arrive during the checkpoint wait for it. The WAL starts over at the
// next commit once a checkpoint has copied all of it, so it stays small. (A checkpointer on a
// connection of its own, running beside the writer, was measured too: it cost a quarter of the
// throughput of one appender.)
func (s *Store) checkpoint(w *checkpointState) {
	commits := s.commits.Load()
	if commits == w.commits || (commits-w.commits < checkpointCommits && time.Since(w.at) < checkpointEvery) {
		return
	}
	if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		s.checkpointErrors.Add(1)
	} else {
		s.checkpoints.Add(1)
	}
	w.commits, w.at = s.commits.Load(), time.Now()
}

// checkpointState is the writer's record of its last checkpoint.
type checkpointState struct {
	commits uint64
	at      time.Time
}
