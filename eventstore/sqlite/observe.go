package sqlite

import "time"

// CommitStats describe one commit of the writer, for Options.OnCommit: what it wrote and how
// long it took. The callback runs on the writer goroutine, between commits: it must return
// at once (count, observe a histogram), never block or call the store.
type CommitStats struct {
	// Appends and Events are the Append calls and the events the commit wrote (refused
	// appends and checkpoint writes are not counted).
	Appends, Events int
	// Took is the whole transaction: begin, the checks, the inserts, and the COMMIT.
	Took time.Duration
	// Sync is the COMMIT statement alone: with synchronous=FULL in WAL mode, the write of
	// the WAL frames and their fsync.
	Sync time.Duration
}
