// Package projections folds the event log into in-memory read models: accounts, devices,
// pending challenges per device and challenge status. Each projection is idempotent and keeps
// its checkpoint (the position it has applied; it skips events at or below it), can be rebuilt
// from position zero, and lets a caller wait until it has reached a position (WaitFor). The
// Pending projection also fans out changes (challenge issued, delivered, decided; device
// linked, unlinked) to in-process subscribers such as the push hubs.
//
// The read models are for queries and for finding work (the expiry sweeper); commands decide
// on the streams, never on a read model.
package projections
