package apierror_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/transport/apierror"
)

var errDiskFull = errors.New("the disk is full")

func init() {
	apierror.AddUnavailable(errDiskFull, 503, "test_storage_unavailable", "The server cannot write its data right now.", 30*time.Second)
}

// TestUnavailableIsA503WithRetryAfterAndIsLogged checks that an error of the server's own
// storage is told as 503 with its code and a Retry-After, never as a 500, and that its cause is
// logged for the operator.
func TestUnavailableIsA503WithRetryAfterAndIsLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	err := apierror.From(log, fmt.Errorf("register: append: %w", errDiskFull))
	var p *apierror.Problem
	if !errors.As(err, &p) || p.Status != 503 || p.Code != "test_storage_unavailable" || p.GetHeaders().Get("Retry-After") != "30" {
		t.Fatalf("From = %#v, want 503 test_storage_unavailable with Retry-After 30", err)
	}
	if !strings.Contains(logs.String(), "the disk is full") {
		t.Fatalf("the cause was not logged: %q", logs.String())
	}
}
