// Package projections folds the event log into read models: account, device, pending
// challenges and challenge status. Each projection keeps its checkpoint and can be rebuilt
// from position zero.
package projections
