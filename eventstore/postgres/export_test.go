package postgres

// SetBeforeCommit makes every append of s call f before it commits; tests hold transactions
// open with it. Set it before the first append.
func SetBeforeCommit(s *Store, f func()) { s.beforeCommit = f }
