// Package app holds Assent's application services: each use case loads the streams it
// decides on, asks the domain, seals or hashes secrets with package secrets, and appends the
// decision with the expected version it read, retrying on a conflict. Queries read the
// projections after they have caught up with this service's own writes.
package app

import "errors"

// Errors of the application layer. Domain errors (domain.ErrLocked, domain.ErrWrongCode, ...)
// come through wrapped; check every error with errors.Is. No message holds a secret.
var (
	// ErrInvalidCredentials is a wrong email or password; which of the two is not told.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrInvalidPassword is a new password that does not meet the rules (8 to 1024 bytes).
	ErrInvalidPassword = errors.New("password must have 8 to 1024 bytes")
	// ErrInvalidAnswer is an answer that is not approve, deny or fraud, or a number that does
	// not fit it (10 to 99 to approve, 0 to deny or report fraud).
	ErrInvalidAnswer = errors.New("invalid answer")
	// ErrBusy is returned when a password check waited its turn for too long: too many were
	// running and waiting already (Config.PasswordChecks).
	ErrBusy = errors.New("too many password checks at once; try again")
	// ErrContention is returned when a stream kept changing under a command for every attempt.
	ErrContention = errors.New("too many concurrent changes; try again")
	// ErrNoProjections is returned by queries and the sweeper of a Service built without them.
	ErrNoProjections = errors.New("app: no projections configured")
)
