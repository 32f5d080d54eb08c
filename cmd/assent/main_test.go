package main

import (
	"os"
	"testing"

	"github.com/assent-dev/assent/hashworker"
)

// TestMain lets the test binary be the password worker of the servers the tests start, as
// the assent binary is for `assent serve`.
func TestMain(m *testing.M) {
	if hashworker.IsWorker() {
		os.Exit(hashworker.Main())
	}
	os.Exit(m.Run())
}
