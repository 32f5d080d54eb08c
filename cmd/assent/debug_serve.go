package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugListener serves the Go profiler (net/http/pprof) on the listener of --debug-listen,
// apart from the API's and only when it is set: profiles show the process's memory and
// stacks, which only operators may see.
type debugListener struct {
	http *http.Server
	ln   net.Listener
}

// listenDebug starts the profiler's listener on addr; an empty addr starts none.
func listenDebug(addr string, log *slog.Logger) (*debugListener, error) {
	if addr == "" {
		return &debugListener{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugListener{ln: ln, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug listener stopped", "err", err)
		}
	}()
	if ip := net.ParseIP(ln.Addr().(*net.TCPAddr).IP.String()); ip == nil || !ip.IsLoopback() {
		log.Warn("the profiler listens beyond loopback: keep it from the public", "addr", ln.Addr().String())
	}
	log.Info("profiler listening", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return d, nil
}

// addr is the listener's address, empty when there is none.
func (d *debugListener) addr() string {
	if d.ln == nil {
		return ""
	}
	return d.ln.Addr().String()
}

func (d *debugListener) stop(ctx context.Context) error {
	if d.http == nil {
		return nil
	}
	return d.http.Shutdown(ctx)
}
