package httpd_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"haul/core"
)

// as returns a copy of e whose helpers fail t (a subtest) instead of the
// test that made e.
func (e *env) as(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// errField returns the field named by a MASV error body, if any.
func (r resp) errField(t testing.TB) string {
	t.Helper()
	var b struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	r.JSON(t, &b)
	if len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Field
}

// badCase is a request that must be refused with status and a message
// that says what to fix, leaving the state read by state unchanged.
type badCase struct {
	name   string
	setup  func(t *testing.T) // optional, before the state is read
	req    func(e *env) resp
	status int
	msg    string // a distinctive part of the message
	field  string // the field the error names, if any
	state  func(e *env) string
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	adm := e.addPerson(o.Token, "admin@studio.example", core.RoleAdmin)
	mem := e.addPerson(o.Token, "member@studio.example", core.RoleMember)
	team := "/v1/teams/" + e.TeamID
	team11 := "/v1.1/teams/" + e.TeamID
	members := team + "/members"

	// Readers of what a refused request must not change, as the owner
	// with a user token (API-key use would move last_used_at).
	read := func(path string) func(e *env) string {
		return func(e *env) string {
			return string(e.must(200, "GET", path, nil, userToken(o.Token)).Body)
		}
	}
	teamState := read(team)
	membersState := read(members)
	keysState := read(team + "/api_keys")
	spacesState := read(team11 + "/spaces?limit=100")
	profileState := read("/v1/users/me")

	// A key made and deleted in setup.
	var deadKey string
	// A server whose user tokens live one second, with an API key to
	// read its state.
	var short *env
	var shortToken, shortKey string

	cases := []badCase{
		{
			name:   "malformed JSON",
			req:    func(e *env) resp { return e.do("PUT", team, `{"name": "Half`, userToken(o.Token)) },
			status: 400, msg: "not valid JSON", state: teamState,
		},
		{
			name:   "JSON with trailing data",
			req:    func(e *env) resp { return e.do("PUT", team, `{"name":"A"} {"name":"B"}`, userToken(o.Token)) },
			status: 400, msg: "after the JSON value", state: teamState,
		},
		{
			name:   "wrong type for a string field",
			req:    func(e *env) resp { return e.do("PUT", team, `{"name": 42}`, userToken(o.Token)) },
			status: 400, msg: `"name"`, field: "name", state: teamState,
		},
		{
			name: "wrong type for a number field",
			req: func(e *env) resp {
				return e.do("PUT", team, `{"name":"Renamed","custom_expiry_default":"30"}`, userToken(o.Token))
			},
			status: 400, msg: `"custom_expiry_default"`, field: "custom_expiry_default", state: teamState,
		},
		{
			name: "wrong type for a list field",
			req: func(e *env) resp {
				return e.do("POST", team+"/spaces", `{"name":"Grading","member_ids":"`+o.MemberID+`"}`, userToken(o.Token))
			},
			status: 400, msg: `"member_ids"`, field: "member_ids", state: spacesState,
		},
		{
			name: "not a time in a time field",
			req: func(e *env) resp {
				return e.do("POST", team+"/api_keys", `{"name":"k","state":"active","expiry":"next tuesday"}`, userToken(o.Token))
			},
			status: 400, msg: "expiry", field: "expiry", state: keysState,
		},
		{
			name: "POST body without Content-Type",
			req: func(e *env) resp {
				return e.do("POST", members, []byte(`{"email":"ct@studio.example","role":"member"}`), userToken(o.Token))
			},
			status: 415, msg: "Content-Type: application/json", state: membersState,
		},
		{
			name: "POST form body",
			req: func(e *env) resp {
				return e.do("POST", members, []byte(`email=ct@studio.example&role=member`), userToken(o.Token),
					header("Content-Type", "application/x-www-form-urlencoded"))
			},
			status: 415, msg: "Content-Type: application/json", state: membersState,
		},
		{
			name: "PUT text/plain body",
			req: func(e *env) resp {
				return e.do("PUT", team, []byte(`{"name":"Plain"}`), userToken(o.Token), header("Content-Type", "text/plain"))
			},
			status: 415, msg: "Content-Type: application/json", state: teamState,
		},
		{
			name:   "bodiless POST that needs a body",
			req:    func(e *env) resp { return e.do("POST", team+"/spaces", nil, userToken(o.Token)) },
			status: 400, msg: "name is required", field: "name", state: spacesState,
		},
		{
			name: "team name of 256 characters",
			req: func(e *env) resp {
				return e.do("PUT", team, map[string]any{"name": strings.Repeat("n", 256)}, userToken(o.Token))
			},
			status: 400, msg: "maximum is 255", field: "name", state: teamState,
		},
		{
			name:   "blank team name",
			req:    func(e *env) resp { return e.do("PUT", team, map[string]any{"name": "   "}, userToken(o.Token)) },
			status: 400, msg: "name is required", field: "name", state: teamState,
		},
		{
			name: "invalid email on member add",
			req: func(e *env) resp {
				return e.do("POST", members, map[string]any{"email": "not-an-email", "role": "member"}, userToken(o.Token))
			},
			status: 400, msg: "not a valid email address", field: "email", state: membersState,
		},
		{
			name: "unknown role on member add",
			req: func(e *env) resp {
				return e.do("POST", members, map[string]any{"email": "new@studio.example", "role": "superuser"}, userToken(o.Token))
			},
			status: 400, msg: "not one of admin, integration_manager, member, guest", field: "role", state: membersState,
		},
		{
			name: "member added twice",
			req: func(e *env) resp {
				return e.do("POST", members, map[string]any{"email": "MEMBER@studio.example", "role": "guest"}, userToken(o.Token))
			},
			status: 409, msg: "already a member", state: membersState,
		},
		{
			name: "teamspace with a foreign member id",
			req: func(e *env) resp {
				return e.do("POST", team+"/spaces", map[string]any{"name": "Color", "member_ids": []string{o.MemberID, o.UserID}}, userToken(o.Token))
			},
			status: 400, msg: "is not a member id of this team", field: "member_ids", state: spacesState,
		},
		{
			name: "API key expiring in the past",
			req: func(e *env) resp {
				return e.do("POST", team+"/api_keys", map[string]any{"name": "late", "expiry": "2020-01-01T00:00:00.000Z"}, userToken(o.Token))
			},
			status: 400, msg: "in the past", field: "expiry", state: keysState,
		},
		{
			name: "API key in an unknown state",
			req: func(e *env) resp {
				return e.do("POST", team+"/api_keys", map[string]any{"name": "odd", "state": "paused"}, userToken(o.Token))
			},
			status: 400, msg: "not one of active, inactive", field: "state", state: keysState,
		},
		{
			name: "unknown role on role change",
			req: func(e *env) resp {
				return e.do("PUT", members+"/"+mem.MemberID, map[string]any{"role": "superuser"}, userToken(o.Token))
			},
			status: 400, msg: "not one of admin, integration_manager, member, guest", field: "role", state: membersState,
		},
		{
			name: "member promoting themself",
			req: func(e *env) resp {
				return e.do("PUT", members+"/"+mem.MemberID, map[string]any{"role": "admin"}, userToken(mem.Token))
			},
			status: 403, msg: "ask the team's owner or an admin", state: membersState,
		},
		{
			name: "admin changing their own role",
			req: func(e *env) resp {
				return e.do("PUT", members+"/"+adm.MemberID, map[string]any{"role": "member"}, userToken(adm.Token))
			},
			status: 403, msg: "cannot change your own role", state: membersState,
		},
		{
			name: "admin changing the owner's role",
			req: func(e *env) resp {
				return e.do("PUT", members+"/"+o.MemberID, map[string]any{"role": "member"}, apiKey(adm.APIKey))
			},
			status: 403, msg: "owner's role cannot be changed", state: membersState,
		},
		{
			name:   "admin deleting the owner",
			req:    func(e *env) resp { return e.do("DELETE", members+"/"+o.MemberID, nil, userToken(adm.Token)) },
			status: 403, msg: "owner cannot be removed", state: membersState,
		},
		{
			name: "owner role via role update",
			req: func(e *env) resp {
				return e.do("PUT", members+"/"+adm.MemberID, map[string]any{"role": "owner"}, userToken(o.Token))
			},
			status: 400, msg: "transfer_ownership", field: "role", state: membersState,
		},
		{
			name: "deleted API key",
			setup: func(t *testing.T) {
				e := e.as(t)
				k := e.must(201, "POST", team+"/api_keys", map[string]any{"name": "doomed", "state": "active"}, userToken(o.Token)).Map(t)
				deadKey = k["key"].(string)
				e.must(200, "GET", team, nil, apiKey(deadKey))
				e.must(204, "DELETE", "/v1/api_keys/"+k["id"].(string), nil, userToken(o.Token))
			},
			req:    func(e *env) resp { return e.do("PUT", team, map[string]any{"name": "By Dead Key"}, apiKey(deadKey)) },
			status: 401, msg: "create a new key", state: teamState,
		},
		{
			name: "API key of another shape",
			req: func(e *env) resp {
				return e.do("PUT", team, map[string]any{"name": "By Fake Key"}, apiKey("sk_live_0000"))
			},
			status: 401, msg: "API key is not valid", state: teamState,
		},
		{
			name: "expired user token",
			setup: func(t *testing.T) {
				short = newEnv(t, func(o *envOptions) { o.auth.TokenTTL = time.Second })
				s := short.as(t)
				login := s.must(200, "POST", "/v1/auth", map[string]any{"email": ownerEmail, "password": ownerPassword}).Map(t)
				shortToken = login["token"].(string)
				// The token's exp (whole seconds) must not end it before
				// the session does. POST /v1/auth answers MASV's shape
				// only, so the session's expiry comes from a login
				// through the service, which signs the same way.
				res, err := short.Svc.Login(t.Context(), core.LoginRequest{Email: ownerEmail, Password: ownerPassword})
				if err != nil {
					t.Fatal(err)
				}
				var claims struct{ Exp int64 }
				payload, err := base64.RawURLEncoding.DecodeString(strings.Split(res.Token, ".")[1])
				if err != nil || json.Unmarshal(payload, &claims) != nil {
					t.Fatalf("token payload %q: %v", payload, err)
				}
				if time.Unix(claims.Exp, 0).Before(res.ExpiresAt) {
					t.Fatalf("token exp %d is before the session's expiry %s", claims.Exp, res.ExpiresAt)
				}
				k := s.must(201, "POST", "/v1/teams/"+s.TeamID+"/api_keys", map[string]any{"name": "reader"}, userToken(shortToken)).Map(t)
				shortKey = k["key"].(string)
				time.Sleep(1100 * time.Millisecond)
			},
			req: func(e *env) resp {
				return short.as(e.t).do("PUT", "/v1/teams/"+short.TeamID, map[string]any{"name": "Too Late"}, userToken(shortToken))
			},
			status: 401, msg: "log in again",
			state: func(e *env) string {
				s := short.as(e.t)
				return string(s.must(200, "GET", "/v1/teams/"+s.TeamID, nil, apiKey(shortKey)).Body)
			},
		},
		{
			name: "garbage user token",
			req: func(e *env) resp {
				return e.do("PUT", team, map[string]any{"name": "By Garbage"}, userToken("garbage"))
			},
			status: 401, msg: "log in again", state: teamState,
		},
		{
			name: "tampered user token",
			req: func(e *env) resp {
				tok := o.Token[:len(o.Token)-2] + "xx"
				if tok == o.Token {
					tok = o.Token[:len(o.Token)-2] + "yy"
				}
				return e.do("PUT", team, map[string]any{"name": "By Tampered"}, userToken(tok))
			},
			status: 401, msg: "log in again", state: teamState,
		},
		{
			name:   "no credentials",
			req:    func(e *env) resp { return e.do("PUT", team, map[string]any{"name": "Anonymous"}) },
			status: 401, msg: "send X-API-KEY or X-User-Token", state: teamState,
		},
		{
			name:   "page limit of 1000",
			req:    func(e *env) resp { return e.do("GET", team11+"/spaces?limit=1000", nil, userToken(o.Token)) },
			status: 400, msg: "maximum of 100", field: "limit", state: spacesState,
		},
		{
			name:   "page limit of 0",
			req:    func(e *env) resp { return e.do("GET", team11+"/spaces?limit=0", nil, userToken(o.Token)) },
			status: 400, msg: "from 1 to 100", field: "limit", state: spacesState,
		},
		{
			name:   "page of -1",
			req:    func(e *env) resp { return e.do("GET", team11+"/spaces?page=-1", nil, userToken(o.Token)) },
			status: 400, msg: "page must be a whole number", field: "page", state: spacesState,
		},
		{
			name: "page so large the offset overflows",
			req: func(e *env) resp {
				return e.do("GET", team11+"/spaces?page=4611686018427387904", nil, userToken(o.Token))
			},
			status: 400, msg: "page 4611686018427387904 is too large", field: "page", state: spacesState,
		},
		{
			name: "events page so large the offset overflows",
			req: func(e *env) resp {
				return e.do("GET", team11+"/events?page=4611686018427387904&limit=100", nil, userToken(o.Token))
			},
			status: 400, msg: "page 4611686018427387904 is too large", field: "page", state: spacesState,
		},
		{
			name: "page past a billion records",
			req: func(e *env) resp {
				return e.do("GET", team11+"/spaces?page=10000002&limit=100", nil, userToken(o.Token))
			},
			status: 400, msg: "too large", field: "page", state: spacesState,
		},
		{
			name: "page beyond any integer",
			req: func(e *env) resp {
				return e.do("GET", team11+"/spaces?page=99999999999999999999999", nil, userToken(o.Token))
			},
			status: 400, msg: "too large", field: "page", state: spacesState,
		},
		{
			name:   "events sorted by an unknown field",
			req:    func(e *env) resp { return e.do("GET", team11+"/events?sort=type", nil, userToken(o.Token)) },
			status: 400, msg: "is not one of created_at", field: "sort", state: spacesState,
		},
		{
			name:   "page not a number",
			req:    func(e *env) resp { return e.do("GET", team11+"/events?page=two", nil, userToken(o.Token)) },
			status: 400, msg: "page must be a whole number", field: "page", state: spacesState,
		},
		{
			name:   "unknown route under /v1",
			req:    func(e *env) resp { return e.do("GET", "/v1/nonsense", nil, userToken(o.Token)) },
			status: 404, msg: "/v1/openapi.json lists the routes", state: teamState,
		},
		{
			name: "unknown route under a team",
			req: func(e *env) resp {
				return e.do("POST", team+"/nonsense", map[string]any{"name": "x"}, userToken(o.Token))
			},
			status: 404, msg: "no route POST", state: teamState,
		},
		{
			name:   "not offered: cloud connections",
			req:    func(e *env) resp { return e.do("GET", team+"/cloud_connections", nil, apiKey(o.APIKey)) },
			status: 501, msg: "haul does not offer", state: teamState,
		},
		{
			name: "not offered: cloud transfer",
			req: func(e *env) resp {
				return e.do("POST", "/v1/packages/x/transfer", map[string]any{"cloud_connection_id": "c"}, header("X-Package-Token", "p"))
			},
			status: 501, msg: "haul does not offer", state: teamState,
		},
		{
			name:   "not offered: tags",
			req:    func(e *env) resp { return e.do("GET", team+"/tags", nil, apiKey(o.APIKey)) },
			status: 501, msg: "haul does not offer", state: teamState,
		},
		{
			name: "wrong password",
			req: func(e *env) resp {
				return e.do("POST", "/v1/auth", map[string]any{"email": ownerEmail, "password": "not-the-password"})
			},
			status: 401, msg: "email or password is incorrect", state: profileState,
		},
		{
			name: "login without a password",
			req: func(e *env) resp {
				return e.do("POST", "/v1/auth", map[string]any{"email": ownerEmail})
			},
			status: 400, msg: "email and password are required", field: "password", state: profileState,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			e := e.as(t)
			before := c.state(e)
			r := c.req(e)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			got := r.ErrMsg(t)
			t.Logf("%d %s", r.Status, got)
			if !strings.Contains(got, c.msg) {
				t.Errorf("message %q does not say %q", got, c.msg)
			}
			if got := r.errField(t); got != c.field {
				t.Errorf("field %q, want %q (%s)", got, c.field, r.Body)
			}
			if after := c.state(e); after != before {
				t.Errorf("the refused request changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	t.Run("bodiless POST works", func(t *testing.T) {
		e := e.as(t)
		tok := e.login(mem.Email, mem.Password)
		r := e.must(204, "POST", "/v1/auth/logout", nil, userToken(tok))
		if len(r.Body) != 0 {
			t.Fatalf("204 with a body: %s", r.Body)
		}
		r = e.must(401, "GET", "/v1/users/me", nil, userToken(tok))
		if msg := r.ErrMsg(t); !strings.Contains(msg, "log in again") {
			t.Fatalf("after logout: %q", msg)
		}
		e.must(200, "GET", "/v1/users/me", nil, userToken(mem.Token)) // other sessions live on
	})

	t.Run("unknown and known email look the same", func(t *testing.T) {
		e := e.as(t)
		before := e.Hasher.DummyChecks.Load()
		unknown := e.do("POST", "/v1/auth", map[string]any{"email": "nobody@studio.example", "password": "some-password-1"})
		if got := e.Hasher.DummyChecks.Load(); got != before+1 {
			t.Fatalf("unknown email: dummy checks %d → %d, want one more", before, got)
		}
		known := e.do("POST", "/v1/auth", map[string]any{"email": adm.Email, "password": "some-password-1"})
		if got := e.Hasher.DummyChecks.Load(); got != before+1 {
			t.Fatalf("known email: dummy checks %d → %d, want no change", before+1, got)
		}
		if unknown.Status != 401 || known.Status != unknown.Status {
			t.Fatalf("statuses: unknown %d, known %d", unknown.Status, known.Status)
		}
		if string(known.Body) != string(unknown.Body) {
			t.Fatalf("bodies differ:\nunknown %s\nknown   %s", unknown.Body, known.Body)
		}
		if msg := unknown.ErrMsg(t); !strings.Contains(msg, "email or password is incorrect") {
			t.Fatalf("message %q", msg)
		}
	})

	t.Run("login rate limit", func(t *testing.T) {
		rl := newEnv(t, func(o *envOptions) {
			o.auth.LoginAccountBurst, o.auth.LoginAccountPerMinute = 3, 1
		}).as(t)
		wrong := map[string]any{"email": ownerEmail, "password": "guess-number-one"}
		for i := 1; i <= 3; i++ {
			r := rl.must(401, "POST", "/v1/auth", wrong)
			if r.Header.Get("Retry-After") != "" {
				t.Fatalf("attempt %d: Retry-After on a 401", i)
			}
		}
		before, checks := rl.Hasher.DummyChecks.Load(), rl.Hasher.Checks.Load()
		r := rl.must(429, "POST", "/v1/auth", wrong)
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 61 {
			t.Fatalf("Retry-After %q, want whole seconds up to a minute", r.Header.Get("Retry-After"))
		}
		if msg := r.ErrMsg(t); !strings.Contains(msg, "too many login attempts") || !strings.Contains(msg, "try again") {
			t.Fatalf("message %q", msg)
		}
		// The limit is per account and applies before any hashing.
		rl.must(429, "POST", "/v1/auth", map[string]any{"email": ownerEmail, "password": ownerPassword})
		if rl.Hasher.DummyChecks.Load() != before || rl.Hasher.Checks.Load() != checks {
			t.Fatalf("a limited login was hashed: checks %d → %d", checks, rl.Hasher.Checks.Load())
		}
		// An email without an account has its own limit, also before any
		// hashing; each attempt below the limit is checked (against the
		// dummy hash), so the counter does move when it should.
		ghost := map[string]any{"email": "someone.else@studio.example", "password": "guess-number-one"}
		for i := 1; i <= 3; i++ {
			checks := rl.Hasher.Checks.Load()
			rl.must(401, "POST", "/v1/auth", ghost)
			if rl.Hasher.Checks.Load() != checks+1 {
				t.Fatalf("unknown email, attempt %d: not checked", i)
			}
		}
		checks = rl.Hasher.Checks.Load()
		rl.must(429, "POST", "/v1/auth", ghost)
		if got := rl.Hasher.Checks.Load(); got != checks {
			t.Fatalf("a limited login for an unknown email was hashed: checks %d → %d", checks, got)
		}
	})

	t.Run("X-Request-Id", func(t *testing.T) {
		e := e.as(t)
		ulid := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
		r := e.must(200, "GET", "/v1/teams", nil, userToken(o.Token))
		if id := r.Header.Get("X-Request-Id"); !ulid.MatchString(id) {
			t.Fatalf("generated X-Request-Id %q", id)
		}
		r = e.must(404, "GET", "/v1/nonsense", nil)
		if id := r.Header.Get("X-Request-Id"); !ulid.MatchString(id) {
			t.Fatalf("X-Request-Id on an error %q", id)
		}
		const mine = "client-trace_0042.a"
		r = e.must(200, "GET", team, nil, userToken(o.Token), header("X-Request-Id", mine))
		if got := r.Header.Get("X-Request-Id"); got != mine {
			t.Fatalf("X-Request-Id %q, want the client's %q echoed", got, mine)
		}
		line := ""
		for _, l := range strings.Split(e.Logs.String(), "\n") {
			if strings.Contains(l, "request_id="+mine) {
				line = l
			}
		}
		if !strings.Contains(line, "msg=request") || !strings.Contains(line, "route=/v1/teams/:team_id") || !strings.Contains(line, "status=200") {
			t.Fatalf("no access log line for request %s; got %q", mine, line)
		}
		for _, bad := range []string{"has space", strings.Repeat("x", 65), "<script>", "a/b"} {
			req, err := http.NewRequest("GET", e.URL+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header["X-Request-Id"] = []string{bad}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if id := res.Header.Get("X-Request-Id"); !ulid.MatchString(id) {
				t.Errorf("client id %q: answered with X-Request-Id %q, want a fresh one", bad, id)
			}
		}
	})
}
