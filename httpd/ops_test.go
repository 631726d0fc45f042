package httpd_test

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	"haul/core"
	"haul/httpd"
	"haul/store/meta"
)

// TestOpenAPIMatchesRoutes checks /v1/openapi.json against the routes
// the Fiber app actually registered, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	db, err := meta.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httpd.New(httpd.Deps{Service: core.NewService(core.Deps{Store: db})})
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	registered := map[string]bool{}
	for _, r := range srv.App().GetRoutes(true) {
		if r.Method == "USE" {
			continue
		}
		p := strings.ReplaceAll(param.ReplaceAllString(r.Path, "{$1}"), "*", "{path}")
		registered[r.Method+" "+p] = true
	}

	e := newEnv(t)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	e.must(200, "GET", "/v1/openapi.json", nil).JSON(t, &doc)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			described[strings.ToUpper(method)+" "+path] = true
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s %s has no summary", method, path)
			}
		}
	}
	var missing, extra []string
	for k := range registered {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("openapi.json and the routes differ\nregistered, not described: %v\ndescribed, not registered: %v", missing, extra)
	}
	for _, want := range []string{"POST /v1/auth", "POST /v1/teams/{team_id}/api_keys", "GET /v1.1/teams/{team_id}/spaces",
		"GET /v1.1/teams/{team_id}/events", "GET /v1.1/teams/{team_id}/activities"} {
		if !described[want] {
			t.Errorf("openapi.json lacks %s", want)
		}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
}

func TestMetrics(t *testing.T) {
	t.Run("loopback only without a token", func(t *testing.T) {
		e := newEnv(t)
		e.must(200, "GET", "/healthz", nil)
		r := e.must(200, "GET", "/metrics", nil)
		body := string(r.Body)
		if !strings.Contains(body, `haul_http_requests_total{method="GET",route="/healthz",status="200"}`) {
			t.Fatalf("no request counter for /healthz:\n%.2000s", body)
		}
		if !strings.Contains(body, "haul_http_request_duration_seconds_bucket") {
			t.Fatal("no latency histogram")
		}
	})
	t.Run("token required when configured", func(t *testing.T) {
		e := newEnv(t, func(o *envOptions) { o.config.MetricsToken = "s3cret-metrics" })
		e.must(401, "GET", "/metrics", nil)
		e.must(401, "GET", "/metrics", nil, header("Authorization", "Bearer wrong"))
		e.must(200, "GET", "/metrics", nil, header("Authorization", "Bearer s3cret-metrics"))
	})
	t.Run("no raw paths as labels", func(t *testing.T) {
		e := newEnv(t)
		e.must(404, "GET", "/v1/teams/SECRET-IN-PATH/nope", nil)
		r := e.must(200, "GET", "/metrics", nil)
		if strings.Contains(string(r.Body), "SECRET-IN-PATH") {
			t.Fatal("a raw request path leaked into metric labels")
		}
	})
}

// TestClientAddressFromTrustedProxy: X-Forwarded-For counts only when the
// peer is a trusted proxy; the per-address login limit follows it.
func TestClientAddressFromTrustedProxy(t *testing.T) {
	limited := func(o *envOptions) {
		o.auth = core.AuthConfig{LoginIPBurst: 2, LoginIPPerMinute: 1, LoginAccountBurst: 100, LoginAccountPerMinute: 100}
	}
	bad := map[string]string{"email": "nobody@studio.example", "password": "wrong-password"}

	t.Run("untrusted peer: header ignored", func(t *testing.T) {
		e := newEnv(t, limited)
		for i := range 2 {
			e.must(401, "POST", "/v1/auth", bad, header("X-Forwarded-For", "203.0.113."+string(rune('1'+i))))
		}
		r := e.must(429, "POST", "/v1/auth", bad, header("X-Forwarded-For", "203.0.113.9"))
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	})
	t.Run("trusted peer: each forwarded client has its own limit", func(t *testing.T) {
		e := newEnv(t, limited, func(o *envOptions) {
			o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		for i := range 4 {
			ip := "203.0.113." + string(rune('1'+i))
			e.must(401, "POST", "/v1/auth", bad, header("X-Forwarded-For", "198.51.100.7, "+ip))
		}
		e.must(401, "POST", "/v1/auth", bad, header("X-Forwarded-For", "203.0.113.50"))
		e.must(401, "POST", "/v1/auth", bad, header("X-Forwarded-For", "203.0.113.50"))
		e.must(429, "POST", "/v1/auth", bad, header("X-Forwarded-For", "203.0.113.50"))
		if !strings.Contains(e.Logs.String(), "client_ip=203.0.113.50") {
			t.Error("the log does not show the forwarded client address")
		}
	})
}

// TestErrorBodyShape: every error is MASV's body.
func TestErrorBodyShape(t *testing.T) {
	e := newEnv(t)
	r := e.must(401, "GET", "/v1/teams", nil)
	var b map[string]any
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	errs, _ := b["errors"].([]any)
	if b["code"] != float64(401) || len(errs) != 1 {
		t.Fatalf("body %s", r.Body)
	}
	item := errs[0].(map[string]any)
	for _, k := range []string{"code", "msg", "type"} {
		if s, _ := item[k].(string); s == "" {
			t.Errorf("error item lacks %q: %s", k, r.Body)
		}
	}
}
