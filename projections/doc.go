// Package projections folds the event log into read models kept in tables (a Store, with
// each model's checkpoint in the same transaction as its rows): accounts, devices, pending
// challenges per device, challenge status, sign-outs and sessions. Each projection is
// idempotent, skips events at or below its checkpoint, can be rebuilt from position zero, and
// lets a caller wait until it has reached a position (WaitFor). The Set applies a batch of
// events to every model in one transaction and builds the router that feeds it from the log.
//
// The read models are for queries and for finding work (the expiry sweeper); commands decide
// on the streams, never on a read model.
package projections
