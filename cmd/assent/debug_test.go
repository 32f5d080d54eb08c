package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

// TestDebugListenServesTheProfilerApart: with --debug-listen the profiler answers on its own
// listener and never on the API's; without it there is no such listener.
func TestDebugListenServesTheProfilerApart(t *testing.T) {
	t.Parallel()
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	n, _, _ := startLoggedNode(t, func(c *config.Config) { c.DebugListen = "127.0.0.1:0" })
	addr := n.srv.debug.addr()
	if addr == "" {
		t.Fatal("no debug listener")
	}
	if code, body := get("http://" + addr + "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile on the debug listener: %d %.200s", code, body)
	}
	if code, _ := get("http://" + n.srv.Addr() + "/debug/pprof/goroutine?debug=1"); code != 404 {
		t.Fatalf("the API's listener answers the profiler's path with %d", code)
	}
	plain, _, _ := startLoggedNode(t, nil)
	if plain.srv.debug.addr() != "" {
		t.Fatal("a node without --debug-listen has a debug listener")
	}
}
