package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serverFigures is what the load test reads of the server process: from its profiler's
// listener (--debug-listen) after forced collections, and from /proc for its resident memory.
type serverFigures struct {
	// Bytes after two forced collections (0 without a debug URL): the live objects
	// (HeapAlloc), the heap's spans in use (HeapInuse, which counts their free slots too) and
	// the goroutines' stacks.
	HeapAlloc, HeapInuse, StackInuse uint64
	Goroutines                       int
	RSS, PeakRSS                     uint64 // bytes (VmRSS, VmHWM); 0 without a pid
}

// liveHeapStack is the live heap and the stacks: what an idle socket keeps.
func (f serverFigures) liveHeapStack() uint64 { return f.HeapAlloc + f.StackInuse }

// readServer takes the figures; debugURL (the --debug-listen base URL) and pid may each be
// empty or 0, and then their figures are left out.
func readServer(ctx context.Context, debugURL string, pid int) (serverFigures, error) {
	var f serverFigures
	if debugURL != "" {
		var heap string
		for range 2 { // the second collection frees what the first's finalizers released
			var err error
			if heap, err = getText(ctx, debugURL+"/debug/pprof/heap?gc=1&debug=1"); err != nil {
				return f, err
			}
		}
		f.HeapAlloc = memStat(heap, "# HeapAlloc = ")
		f.HeapInuse = memStat(heap, "# HeapInuse = ")
		f.StackInuse = memStat(heap, "# Stack = ")
		g, err := getText(ctx, debugURL+"/debug/pprof/goroutine?debug=1")
		if err != nil {
			return f, err
		}
		line, _, _ := strings.Cut(g, "\n")
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "goroutine profile: total ")); err == nil {
			f.Goroutines = n
		}
	}
	if pid > 0 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return f, fmt.Errorf("loadtest: the server's memory: %w", err)
		}
		f.RSS = procKB(string(status), "VmRSS:")
		f.PeakRSS = procKB(string(status), "VmHWM:")
	}
	return f, nil
}

func getText(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("loadtest: the server's profiler: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("loadtest: %s answered %s", url, res.Status)
	}
	return string(b), err
}

// memStat reads a figure of the heap profile's text form ("# Stack = inuse / sys" keeps the
// first).
func memStat(text, prefix string) uint64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			v, _, _ = strings.Cut(v, " ")
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

// procKB reads a "Name:   123 kB" line of /proc/<pid>/status, in bytes.
func procKB(status, name string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
