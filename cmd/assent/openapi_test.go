package main

import (
	"encoding/json"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// recorder is an http.RoundTripper that notes the method, path and status of every response.
type recorder struct {
	mu   sync.Mutex
	seen []exchange
	// base makes the requests; nil is http.DefaultTransport.
	base http.RoundTripper
}

type exchange struct {
	method, path, contentType string
	status                    int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		r.record(req, resp)
	}
	return resp, err
}

func (r *recorder) record(req *http.Request, resp *http.Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, exchange{req.Method, req.URL.Path, resp.Header.Get("Content-Type"), resp.StatusCode})
}

// checkDocumented fails the test when the server gave a response that its OpenAPI document,
// served at /v1/openapi.json, does not describe: an unknown path or method, a status the
// operation does not list, or a content type the status does not list.
func checkDocumented(t *testing.T, n *node) {
	t.Helper()
	resp, err := http.Get(n.url + "/v1/openapi.json")
	if err != nil {
		t.Errorf("openapi document: %v", err)
		return
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Errorf("openapi document: %v", err)
		return
	}
	type route struct {
		re   *regexp.Regexp
		path string
	}
	var routes []route
	for p := range doc.Paths {
		pattern := regexp.QuoteMeta(regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, "PARAM"))
		re := regexp.MustCompile("^" + strings.ReplaceAll(pattern, "PARAM", "[^/]+") + "$")
		routes = append(routes, route{re, p})
	}
	n.rec.mu.Lock()
	defer n.rec.mu.Unlock()
	for _, x := range n.rec.seen {
		if !strings.HasPrefix(x.path, "/v1/") {
			continue
		}
		var ops map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		}
		for _, r := range routes {
			if r.re.MatchString(x.path) {
				ops = doc.Paths[r.path]
				break
			}
		}
		op, ok := ops[strings.ToLower(x.method)]
		if !ok {
			t.Errorf("%s %s answered %d but the document has no such operation", x.method, x.path, x.status)
			continue
		}
		r, ok := op.Responses[strconv.Itoa(x.status)]
		if !ok {
			t.Errorf("%s %s answered %d, which the document does not describe", x.method, x.path, x.status)
			continue
		}
		if mt, _, _ := mime.ParseMediaType(x.contentType); x.contentType != "" && r.Content[mt] == nil {
			t.Errorf("%s %s answered %d as %q, which the document does not describe", x.method, x.path, x.status, x.contentType)
		}
	}
	if len(n.rec.seen) == 0 {
		t.Log("no API response recorded")
	}
}

func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	resp, err := http.Get(n.url + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	// Every /v1 route echo serves is in the document: both come from the same registrations,
	// and this proves no route was added beside huma.
	for _, r := range n.srv.echoRoutes() {
		if !strings.HasPrefix(r, "/v1/") || r == "/v1/openapi.json" || r == "/v1/openapi.yaml" || r == "/v1/openapi-3.0.json" || r == "/v1/openapi-3.0.yaml" {
			continue
		}
		p := regexp.MustCompile(`:([A-Za-z]+)`).ReplaceAllString(r, "{$1}")
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("route %s is served but not in the OpenAPI document", r)
		}
	}
}
