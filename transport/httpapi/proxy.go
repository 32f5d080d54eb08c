package httpapi

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"
)

// hstsValue is the Strict-Transport-Security answered when the public URL is https: one year,
// for this host only (its parent domain's other hosts are the operator's to decide), and never
// preloaded, which cannot be undone quickly.
const hstsValue = "max-age=31536000"

// ipExtractor finds the client's address. Without trusted proxies it is the TCP peer and no
// header is believed. With them, X-Forwarded-For is read from the right and the first address
// that is not a trusted proxy is the client (so a client's own X-Forwarded-For entries, left
// of it, are never believed); without X-Forwarded-For, X-Real-IP is believed when the peer is
// a trusted proxy. The RFC 7239 Forwarded header is not read.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff := echo.ExtractIPFromXFFHeader(opts...)
	realIP := echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return realIP(r)
	}
}

// ClientIP is the address of the client that sent r, as every rate limit and every recorded
// sign-in context sees it: the TCP peer, or what a trusted proxy forwarded (see Config).
func (s *Server) ClientIP(r *http.Request) string { return s.echo.IPExtractor(r) }

// clientIP is ClientIP of a huma request.
func clientIP(ctx huma.Context) string { return humaecho.Unwrap(ctx).RealIP() }

// fromTrustedProxy reports whether r's TCP peer is one of the trusted proxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	for _, n := range s.cfg.TrustedProxies {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// scheme is the scheme the client used: https when the connection is TLS, or the first
// X-Forwarded-Proto (the one the proxy nearest the client set) when a trusted proxy sent it.
func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if s.fromTrustedProxy(r) {
		first, _, _ := strings.Cut(r.Header.Get(echo.HeaderXForwardedProto), ",")
		if p := strings.ToLower(strings.TrimSpace(first)); p == "https" || p == "http" {
			return p
		}
	}
	return "http"
}

// secure reports whether the browser reaches this server over https, so that cookies are
// Secure and HSTS is sent: the public URL's scheme when it is set, else the request's.
func (s *Server) secure(r *http.Request) bool {
	if s.cfg.PublicURL != "" {
		return strings.HasPrefix(strings.ToLower(s.cfg.PublicURL), "https://")
	}
	return s.scheme(r) == "https"
}

// secureCookies is secure for a huma request.
func (s *Server) secureCookies(ctx huma.Context) bool { return s.secure(request(ctx)) }

// request is the HTTP request of a huma request.
func request(ctx huma.Context) *http.Request { return humaecho.Unwrap(ctx).Request() }

// streamWriteTimeout bounds one write of a response that outlives the server's write timeout
// (long-polls, event streams, exports): a client that has read nothing for this long is cut
// off, however long the response as a whole has run.
const streamWriteTimeout = 30 * time.Second

// extendWriteDeadline gives the next write on w streamWriteTimeout from now, whatever the
// server's write timeout. WebSockets need nothing: a hijacked connection has no deadline.
func extendWriteDeadline(w any) {
	if rw, ok := w.(http.ResponseWriter); ok {
		_ = http.NewResponseController(rw).SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	}
}
