package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/assent-dev/assent/transport/apierror"
)

// Why the shared layers of the server refuse a request, by status. documentAnswers writes
// them into every operation that can meet them.
const (
	why400Body      = "the body is missing or is not valid JSON (code bad_request)"
	why413          = "the request body is over 64 KiB (code too_large)"
	why408          = "the body did not arrive in time (code request_timeout)"
	why415          = "the body is not application/json (code unsupported_media_type)"
	why422          = "a parameter or a field of the body is not valid; details say which (code invalid_request)"
	why401Session   = "no valid session cookie (code unauthenticated)"
	why403CSRF      = "the X-CSRF-Token header does not match the session (code csrf_failed)"
	why401Auditor   = "no valid auditor token (code unauthenticated)"
	why403Auditor   = "an auditor token can only read (code auditor_read_only)"
	why429          = "too many attempts (code rate_limited), or the second factor is locked for a while (code locked); Retry-After says how many seconds to wait"
	why500          = "something went wrong on the server's side (code internal)"
	why503          = "too many changes at once to one account, too many password checks at once, or a part of the server is not available, such as storage that cannot be written (codes contention, busy, storage_unavailable, …); try again, after Retry-After seconds when it is sent"
	why426Handshake = "the request is not a WebSocket handshake (code upgrade_required)"
	why400Handshake = "the WebSocket handshake is malformed: Sec-WebSocket-Version must be 13 and Sec-WebSocket-Key 16 bytes in base64 (code bad_handshake)"
	why403Origin    = "the handshake's Origin is not this server (code origin_forbidden)"
)

// documentAnswers adds to every operation the answers that the layers all routes share can
// give, derived from what the operation is, so that a new route is described without a list
// to keep:
//
//   - every operation: 413 (the body limit), 500, 503;
//   - an operation with a request body: 400, 408, 415, 422; with parameters: 422;
//   - a method that writes: 403 (an auditor token only reads);
//   - session security: 401, and 403 for a method that writes (CSRF); auditor security: 401;
//   - a WebSocket operation (one that answers 101): 400, 403, 426 instead of 200;
//   - 429 and 503 carry Retry-After; a header whose schema is an object (Set-Cookie) is a
//     string on the wire; a "const" of an inline schema (the event names of Server-Sent
//     Events) becomes a one-value enum, which the OpenAPI 3.0 form of the document allows too.
//
// It runs once, after every route is registered.
func (s *Server) documentAnswers() {
	oapi := s.api.OpenAPI()
	problem := oapi.Components.Schemas.Schema(reflect.TypeFor[apierror.Problem](), true, "Problem")
	retryAfter := &huma.Param{Description: "Seconds to wait before trying again",
		Schema: &huma.Schema{Type: "integer", Minimum: ptr(1.0)}}
	for _, item := range oapi.Paths {
		for method, op := range map[string]*huma.Operation{http.MethodGet: item.Get, http.MethodPost: item.Post,
			http.MethodPut: item.Put, http.MethodPatch: item.Patch, http.MethodDelete: item.Delete} {
			if op == nil {
				continue
			}
			add := func(status int, why string) {
				key := strconv.Itoa(status)
				r := op.Responses[key]
				if r == nil {
					r = &huma.Response{Description: http.StatusText(status),
						Content: map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}}
					op.Responses[key] = r
				}
				if r.Description == http.StatusText(status) {
					r.Description += ": " + why
				} else if !strings.Contains(r.Description, why) {
					r.Description += "; " + why
				}
			}
			writes := method != http.MethodGet
			add(413, why413)
			add(500, why500)
			add(503, why503)
			if op.RequestBody != nil {
				add(400, why400Body)
				add(408, why408)
				add(415, why415)
				add(422, why422)
			}
			if len(op.Parameters) > 0 {
				add(422, why422)
			}
			if writes {
				add(403, why403Auditor)
			}
			for _, req := range op.Security {
				if _, ok := req["session"]; ok {
					add(401, why401Session)
					if writes {
						add(403, why403CSRF)
					}
				}
				if _, ok := req["auditor"]; ok {
					add(401, why401Auditor)
				}
			}
			if isWebSocket(op) {
				delete(op.Responses, "200")
				add(400, why400Handshake)
				add(403, why403Origin)
				add(426, why426Handshake)
			}
			if r := op.Responses["429"]; r != nil {
				add(429, why429)
				setHeader(r, "Retry-After", retryAfter)
			}
			setHeader(op.Responses["503"], "Retry-After", retryAfter)
			delete(op.Responses, "default") // every status is listed
			for _, r := range op.Responses {
				for _, mt := range r.Content {
					constToEnum(mt.Schema)
				}
				for name, h := range r.Headers {
					if h.Schema != nil && (h.Schema.Ref != "" || h.Schema.Type == "object") {
						h.Schema = &huma.Schema{Type: "string"}
						if name == "Set-Cookie" && h.Description == "" {
							h.Description = "The session cookie (RFC 6265)"
						}
					}
				}
			}
		}
	}
}

// constToEnum rewrites the "const" extensions of an inline schema as one-value enums.
func constToEnum(s *huma.Schema) {
	if s == nil {
		return
	}
	if v, ok := s.Extensions["const"]; ok {
		s.Enum = []any{v}
		delete(s.Extensions, "const")
	}
	for _, p := range s.Properties {
		constToEnum(p)
	}
	constToEnum(s.Items)
	if list, ok := s.Extensions["oneOf"].([]*huma.Schema); ok {
		for _, o := range list {
			constToEnum(o)
		}
	}
	for _, o := range s.OneOf {
		constToEnum(o)
	}
}

func setHeader(r *huma.Response, name string, h *huma.Param) {
	if r.Headers == nil {
		r.Headers = map[string]*huma.Param{}
	}
	if r.Headers[name] == nil {
		r.Headers[name] = h
	}
}

func ptr[T any](v T) *T { return &v }

// isWebSocket tells whether op upgrades to a WebSocket.
func isWebSocket(op *huma.Operation) bool { return op != nil && op.Responses["101"] != nil }

// checkHandshake refuses, in the problem format, what the WebSocket library would refuse in
// plain text on a WebSocket operation: a request that is not a handshake, a malformed one,
// and one from a page of another origin (the library's default rule: Origin's host must be
// the Host). Other operations pass through.
func (s *Server) checkHandshake(ctx huma.Context, next func(huma.Context)) {
	if !isWebSocket(ctx.Operation()) {
		next(ctx)
		return
	}
	hasToken := func(header, token string) bool {
		for _, v := range strings.Split(ctx.Header(header), ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
		return false
	}
	if !hasToken("Connection", "upgrade") || !hasToken("Upgrade", "websocket") {
		ctx.SetHeader("Upgrade", "websocket")
		s.writeHuma(ctx, apierror.New(http.StatusUpgradeRequired, "upgrade_required", "This address speaks WebSocket only: open it with a WebSocket client."))
		return
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ctx.Header("Sec-WebSocket-Key")))
	if ctx.Header("Sec-WebSocket-Version") != "13" || err != nil || len(key) != 16 {
		ctx.SetHeader("Sec-WebSocket-Version", "13")
		s.writeHuma(ctx, apierror.New(http.StatusBadRequest, "bad_handshake", "The WebSocket handshake is malformed: send Sec-WebSocket-Version 13 and a 16-byte Sec-WebSocket-Key."))
		return
	}
	if origin := ctx.Header("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, ctx.Host()) {
			s.writeHuma(ctx, apierror.New(http.StatusForbidden, "origin_forbidden", "A page of another site may not open this socket."))
			return
		}
	}
	next(ctx)
}
