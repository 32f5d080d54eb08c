package main

import (
	"net/http"
	"time"
)

// httpTimeouts bound what a client may hold of the server. Long-polls (up to 30s), event
// streams and audit exports outlive WriteTimeout: they extend their own write deadline before
// each write (httpapi), and WebSockets have none once upgraded.
type httpTimeouts struct {
	ReadHeader time.Duration // a request's line and headers
	Read       time.Duration // the whole request, body included (bodies are at most 64 KiB)
	Write      time.Duration // from the end of the headers to the end of the answer
	Idle       time.Duration // a keep-alive connection waiting for its next request
}

// defaultHTTPTimeouts: Idle outlasts the keep-alive of the usual proxies in front (nginx and
// AWS load balancers keep an idle upstream connection 60s), so that the proxy, not Assent,
// closes an idle connection and never sends a request on one Assent is closing.
func defaultHTTPTimeouts() httpTimeouts {
	return httpTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second}
}

func (t httpTimeouts) server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}
