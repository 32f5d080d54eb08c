package main

import (
	"log/slog"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/hashworker"
	"github.com/assent-dev/assent/secrets"
)

// passwordWorkerNice is the password worker's nice value, and it runs under SCHED_IDLE on
// Linux too: the lowest priority, so that the server's threads (the sockets, the log, the
// requests) take the core whenever they wake up and the worker takes what is left.
const passwordWorkerNice = 19

// startPasswordHashing returns where the application derives its argon2id keys: a worker
// process (this executable again, see main) with --password-hashing worker, or this process
// with inline; stop ends the worker.
func startPasswordHashing(cfg config.Config, log *slog.Logger) (keys secrets.KeyFunc, stop func(), err error) {
	if cfg.PasswordHashing == "inline" {
		return secrets.IDKey, func() {}, nil
	}
	pool, err := hashworker.New(hashworker.Config{Nice: passwordWorkerNice, Idle: true, Log: log.With("component", "password-worker")})
	if err != nil {
		return nil, nil, err
	}
	return pool.Key, func() { pool.Close() }, nil
}
