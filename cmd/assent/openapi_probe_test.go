package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/websession"
)

// loadDocument fetches an OpenAPI document of the server and checks it with a validator.
func loadDocument(t *testing.T, address string) *openapi3.T {
	t.Helper()
	resp, err := http.Get(address)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("%s: %v", address, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Errorf("%s is not a valid OpenAPI document: %v", address, err)
	}
	return doc
}

// probeInput is one way of sending an operation bad input.
type probeInput struct {
	name        string
	contentType string
	body        []byte
	chunked     bool // send the body without a Content-Length
}

var (
	oversized   = []byte(`{"email":"` + strings.Repeat("a", 70<<10) + `"}`)
	probeBodies = []probeInput{
		{name: "no body"},
		{name: "malformed JSON", contentType: "application/json", body: []byte(`{"email": "a@example.com",`)},
		{name: "wrong content type", contentType: "text/plain", body: []byte("email=a@example.com")},
		{name: "oversized body", contentType: "application/json", body: oversized},
		{name: "oversized chunked body", contentType: "application/json", body: oversized, chunked: true},
		{name: "empty object", contentType: "application/json", body: []byte(`{}`)},
		{name: "array", contentType: "application/json", body: []byte(`[1,"x"]`)},
		{name: "wrong field types", contentType: "application/json", body: []byte(`{"email":1,"password":true,"code":[],` +
			`"answer":{},"number":"x","signature":1,"token":2,"public_key":3,"name":4,"platform":5,"challenge_id":"not-a-uuid"}`)},
	}
)

// probeCreds is who sends a probe.
type probeCreds struct {
	name string
	set  func(*http.Request)
}

// TestOpenAPIAnswersBadInputAsDocumented sends every operation of the served OpenAPI document
// bad input (no body, malformed JSON, a wrong content type, oversized bodies, wrong types, bad
// path and query parameters, broken WebSocket handshakes), from every kind of caller (nobody,
// a forged or partial credential, a valid session with its CSRF and login tokens, an auditor),
// and checks each answer against the document with a validator: the status is listed for the
// operation, its content type is listed for the status, its headers and JSON body match their
// schemas, and it is never a 500.
func TestOpenAPIAnswersBadInputAsDocumented(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	auditorToken, err := auditors.Add(filepath.Join(dir, auditors.File), "probe", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	n := &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
	t.Cleanup(func() { checkDocumented(t, n) }) // the requests that set the probes up
	loadDocument(t, n.url+"/v1/openapi-3.0.json")
	doc := loadDocument(t, n.url+"/v1/openapi.json")

	// An account with 2FA, a linked device and a pending sign-in give the probes the
	// credentials that take them past the checks of who calls, to the parsing of the input.
	browser := n.account(t, "probe@example.com")
	linked := link(t, n, browser, newPhone(t, "probe phone"))
	_, pending := signIn(t, n, "probe@example.com")
	base, _ := url.Parse(n.url)
	var session string
	for _, c := range browser.HTTP.Jar.Cookies(base) {
		if c.Name == websession.SessionCookie {
			session = c.Name + "=" + c.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}
	creds := []probeCreds{
		{"nobody", func(*http.Request) {}},
		{"forged credentials", func(r *http.Request) {
			r.Header.Set("Cookie", websession.SessionCookie+"=forged")
			r.Header.Set("X-CSRF-Token", "forged")
			r.Header.Set("X-Login-Token", "forged")
			r.Header.Set("Authorization", "Bearer forged")
		}},
		{"session without CSRF token", func(r *http.Request) { r.Header.Set("Cookie", session) }},
		{"auditor", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+auditorToken) }},
		{"signed in", func(r *http.Request) {
			r.Header.Set("Cookie", session)
			r.Header.Set("X-CSRF-Token", browser.CSRFToken)
			r.Header.Set("X-Login-Token", pending.LoginToken)
		}},
	}
	auditor, signedIn := creds[3], creds[4]
	noBody, emptyObject := probeBodies[0], probeBodies[5]
	pathValues := []string{pending.Challenge.ID.String(), linked.DeviceID.String(), linked.AccountID.String(),
		uuid.NewString(), "not-a-uuid", strings.Repeat("x", 300)}
	key := base64.StdEncoding.EncodeToString(make([]byte, 16))
	handshakes := []struct {
		name   string
		header http.Header
	}{
		{"WebSocket handshake of another version", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {key}}},
		{"WebSocket handshake from another origin", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {key}, "Origin": {"http://elsewhere.example"}}},
	}

	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	seen := map[int]bool{}
	probes := 0
	send := func(route *routers.Route, values map[string]string, query url.Values, who probeCreds, in probeInput, header http.Header) {
		t.Helper()
		path := route.Path
		for name, v := range values {
			path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(v))
		}
		address := n.url + path
		if len(query) > 0 {
			address += "?" + query.Encode()
		}
		var body io.Reader
		if in.body != nil {
			body = bytes.NewReader(in.body)
			if in.chunked {
				body = io.MultiReader(body) // hides the length
			}
		}
		req, err := http.NewRequest(route.Method, address, body)
		if err != nil {
			t.Fatal(err)
		}
		if in.contentType != "" {
			req.Header.Set("Content-Type", in.contentType)
		}
		who.set(req)
		for k, vs := range header {
			req.Header[k] = vs
		}
		what := route.Method + " " + path + " (" + who.name + ", " + in.name + ")"
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		defer resp.Body.Close()
		probes++
		seen[resp.StatusCode] = true
		checkAnswer(t, what, route, values, req, resp)
	}

	var routes []*routers.Route
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			routes = append(routes, &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op})
			checkHeaders(t, method+" "+path, op)
		}
	}
	// Reads first, then writes, sign-out last: a probe that succeeds must not end the session
	// the others use.
	rank := map[string]int{http.MethodGet: 0, http.MethodPost: 1, http.MethodPut: 2, http.MethodPatch: 3, http.MethodDelete: 4}
	slices.SortFunc(routes, func(a, b *routers.Route) int {
		if d := rank[a.Method] - rank[b.Method]; d != 0 {
			return d
		}
		return strings.Compare(a.Path, b.Path)
	})
	for _, route := range routes {
		var pathParams, queryParams []string
		for _, p := range route.Operation.Parameters {
			switch p.Value.In {
			case openapi3.ParameterInPath:
				pathParams = append(pathParams, p.Value.Name)
			case openapi3.ParameterInQuery:
				queryParams = append(queryParams, p.Value.Name)
			}
		}
		for _, p := range route.PathItem.Parameters {
			if p.Value.In == openapi3.ParameterInPath {
				pathParams = append(pathParams, p.Value.Name)
			}
		}
		valuesOf := func(v string) map[string]string {
			m := map[string]string{}
			for _, name := range pathParams {
				m[name] = v
			}
			return m
		}
		first := valuesOf(pathValues[0])
		for _, who := range creds {
			for _, in := range probeBodies {
				send(route, first, nil, who, in, nil)
			}
		}
		if len(pathParams) > 0 {
			for _, v := range pathValues[1:] {
				for _, who := range []probeCreds{auditor, signedIn} {
					send(route, valuesOf(v), nil, who, emptyObject, nil)
				}
			}
		}
		if len(queryParams) > 0 {
			bad := url.Values{}
			for _, name := range queryParams {
				bad.Set(name, "-1 is not valid!")
			}
			for _, who := range []probeCreds{auditor, signedIn} {
				send(route, first, bad, who, noBody, nil)
			}
		}
		for _, h := range handshakes {
			send(route, first, nil, signedIn, probeInput{name: h.name}, h.header)
		}
	}
	t.Logf("%d probes of %d operations; statuses seen: %v", probes, len(routes), slices.Sorted(func(yield func(int) bool) {
		for s := range seen {
			if !yield(s) {
				return
			}
		}
	}))
	// The probes reached every layer that refuses input; else the test proves little.
	for _, status := range []int{400, 401, 403, 404, 413, 415, 422, 426} {
		if !seen[status] {
			t.Errorf("no probe was answered %d", status)
		}
	}
}

// checkHeaders fails when a response header of op is described as anything but one value: a
// header is a string on the wire, and a validator cannot read it as an object or a list.
func checkHeaders(t *testing.T, what string, op *openapi3.Operation) {
	t.Helper()
	for status, r := range op.Responses.Map() {
		for name, h := range r.Value.Headers {
			s := h.Value.Schema
			if s == nil || s.Value == nil || s.Value.Type == nil ||
				!(s.Value.Type.Is("string") || s.Value.Type.Is("integer") || s.Value.Type.Is("number") || s.Value.Type.Is("boolean")) {
				t.Errorf("%s: header %s of %s is not described as one value: %+v", what, name, status, s)
			}
		}
	}
}

// checkAnswer checks one answer of the server against the operation's description.
func checkAnswer(t *testing.T, what string, route *routers.Route, values map[string]string, req *http.Request, resp *http.Response) {
	t.Helper()
	status := resp.StatusCode
	if status >= 500 && status != http.StatusServiceUnavailable {
		t.Errorf("%s: answered %d to a client's mistake", what, status)
	}
	declared := route.Operation.Responses.Value(strconv.Itoa(status))
	if declared == nil || declared.Value == nil {
		t.Errorf("%s: answered %d, which the document does not list for the operation", what, status)
		return
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	var body []byte
	if mt != "text/event-stream" && status != http.StatusSwitchingProtocols {
		var err error
		if body, err = io.ReadAll(resp.Body); err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
	}
	if ct != "" || len(body) > 0 {
		if declared.Value.Content.Get(ct) == nil {
			t.Errorf("%s: answered %d as %q, which the document does not list for that status", what, status, ct)
			return
		}
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: values, Route: route},
		Status:                 status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: mt != "application/json" && !strings.HasSuffix(mt, "+json")},
	})
	if err != nil {
		t.Errorf("%s: answered %d %s that does not match the document: %v", what, status, body, err)
	}
	if mt == "application/problem+json" {
		var p struct {
			Status        int
			Code, Message string
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Code == "" || p.Message == "" {
			t.Errorf("%s: a problem without its status, code and message: %d %s", what, status, body)
		}
	}
}
