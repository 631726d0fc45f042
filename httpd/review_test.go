package httpd_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"haul/core"
)

// inviteToken returns the token of an invitation_url.
func inviteToken(t *testing.T, r resp) string {
	t.Helper()
	url, _ := r.Map(t)["invitation_url"].(string)
	if url == "" {
		t.Fatalf("no invitation_url in %s", r.Body)
	}
	return url[strings.LastIndex(url, "/")+1:]
}

// TestAcceptInvitationExistingAccount: an invitation for an email that
// already has an account (here the owner of another team) joins only with
// that account's password or a login as that account; without it nothing
// changes, and the account's name never changes.
func TestAcceptInvitationExistingAccount(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	const bEmail, bPassword = "b.owner@other.example", "b-owner-password-1"
	teamB, err := e.Svc.CreateTeam(t.Context(), core.BootstrapRequest{TeamName: "Other Studio", OwnerEmail: bEmail, OwnerPassword: bPassword})
	if err != nil {
		t.Fatal(err)
	}
	bToken := e.login(bEmail, bPassword)
	var bBefore struct {
		Name string `json:"name"`
	}
	e.must(200, "GET", "/v1/users/me", nil, userToken(bToken)).JSON(t, &bBefore)

	inv := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/members", map[string]string{"email": bEmail, "role": "admin", "name": "Chosen By Team A"}, userToken(o.Token))
	tok := inviteToken(t, inv)
	accept := "/v1/invitations/" + tok + "/accept"
	info := e.must(200, "GET", "/v1/invitations/"+tok, nil).Map(t)
	if info["existing_user"] != true || info["password_required"] != true {
		t.Fatalf("invitation info = %v, want existing_user and password_required", info)
	}

	profile := func() string { return string(e.must(200, "GET", "/v1/users/me", nil, userToken(bToken)).Body) }
	members := func() string {
		return string(e.must(200, "GET", "/v1/teams/"+e.TeamID+"/members", nil, userToken(o.Token)).Body)
	}
	profileBefore, membersBefore := profile(), members()
	for _, c := range []struct {
		name  string
		body  map[string]string
		creds []cred
	}{
		{"no password", map[string]string{"name": "Taken Over"}, nil},
		{"wrong password", map[string]string{"name": "Taken Over", "password": "not-b-password-1"}, nil},
		{"logged in as someone else", map[string]string{"name": "Taken Over"}, []cred{userToken(o.Token)}},
		{"someone else's password", map[string]string{"password": ownerPassword}, []cred{userToken(o.Token)}},
	} {
		r := e.do("POST", accept, c.body, c.creds...)
		if r.Status != 401 && r.Status != 403 {
			t.Fatalf("%s: status %d, want 401 or 403: %s", c.name, r.Status, r.Body)
		}
		if msg := r.ErrMsg(t); !strings.Contains(msg, "existing account") {
			t.Errorf("%s: message %q does not say the account exists", c.name, msg)
		}
		if strings.Contains(string(r.Body), `"token"`) {
			t.Fatalf("%s: a refused accept returned a token: %s", c.name, r.Body)
		}
		if got := profile(); got != profileBefore {
			t.Fatalf("%s: the account changed:\nbefore %s\nafter  %s", c.name, profileBefore, got)
		}
		if got := members(); got != membersBefore {
			t.Fatalf("%s: team A's members changed:\nbefore %s\nafter  %s", c.name, membersBefore, got)
		}
	}
	e.login(bEmail, bPassword) // B's password still works

	// With B's password: B joins, keeps their name, and gets a session.
	r := e.must(200, "POST", accept, map[string]string{"name": "Taken Over", "password": bPassword}).Map(t)
	tokenAfter, _ := r["token"].(string)
	if tokenAfter == "" {
		t.Fatalf("accept answered no token: %v", r)
	}
	var teams []map[string]any
	e.must(200, "GET", "/v1/teams", nil, userToken(tokenAfter)).JSON(t, &teams)
	if len(teams) != 2 {
		t.Fatalf("B's teams after joining: %v, want team B and team A", teams)
	}
	var bAfter struct {
		Name string `json:"name"`
	}
	e.must(200, "GET", "/v1/users/me", nil, userToken(bToken)).JSON(t, &bAfter)
	if bAfter.Name != bBefore.Name {
		t.Fatalf("accepting renamed the account: %q → %q", bBefore.Name, bAfter.Name)
	}
	e.must(404, "POST", accept, map[string]string{"password": bPassword}) // used up

	// Logged in as B: no password needed.
	teamC, err := e.Svc.CreateTeam(t.Context(), core.BootstrapRequest{TeamName: "Third Studio", OwnerEmail: ownerEmail})
	if err != nil {
		t.Fatal(err)
	}
	inv = e.must(201, "POST", "/v1/teams/"+teamC.TeamID+"/members", map[string]string{"email": bEmail, "role": "member"}, userToken(o.Token))
	e.must(200, "POST", "/v1/invitations/"+inviteToken(t, inv)+"/accept", map[string]string{"name": "Again"}, userToken(bToken))
	e.must(200, "GET", "/v1/teams/"+teamC.TeamID, nil, userToken(bToken))
	e.must(200, "GET", "/v1/teams/"+teamB.TeamID, nil, userToken(bToken))

	// A new user still chooses a password (and a name) with the link alone.
	inv = e.must(201, "POST", "/v1/teams/"+e.TeamID+"/members", map[string]string{"email": "fresh@studio.example", "role": "member"}, userToken(o.Token))
	tok = inviteToken(t, inv)
	if info := e.must(200, "GET", "/v1/invitations/"+tok, nil).Map(t); info["existing_user"] != false {
		t.Fatalf("new user's invitation info = %v", info)
	}
	e.must(400, "POST", "/v1/invitations/"+tok+"/accept", map[string]string{"name": "Fresh"})
	e.must(200, "POST", "/v1/invitations/"+tok+"/accept", map[string]string{"name": "Fresh", "password": "fresh-password-1"})
	e.login("fresh@studio.example", "fresh-password-1")
}

// TestUserEventsOnlyInAcceptedTeams: a user's logins are not written into
// a team whose invitation they have not accepted.
func TestUserEventsOnlyInAcceptedTeams(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	const bEmail, bPassword = "b.owner@other.example", "b-owner-password-1"
	if _, err := e.Svc.CreateTeam(t.Context(), core.BootstrapRequest{TeamName: "Other Studio", OwnerEmail: bEmail, OwnerPassword: bPassword}); err != nil {
		t.Fatal(err)
	}
	e.must(201, "POST", "/v1/teams/"+e.TeamID+"/members", map[string]string{"email": bEmail, "role": "member"}, userToken(o.Token))
	e.login(bEmail, bPassword)
	e.must(401, "POST", "/v1/auth", map[string]string{"email": bEmail, "password": "wrong-password-1"})
	e.must(204, "POST", "/v1/auth/logout", nil, userToken(e.login(bEmail, bPassword)))

	var page struct {
		Records []struct {
			Type  string `json:"type"`
			Actor struct {
				Email string `json:"email"`
			} `json:"actor"`
		} `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?limit=100", nil, userToken(o.Token)).JSON(t, &page)
	for _, ev := range page.Records {
		if ev.Actor.Email == bEmail && ev.Type != core.EvMemberInvited {
			t.Errorf("team A holds %s of a user who has not joined it", ev.Type)
		}
	}
}

// TestLoginBusyAnswers503: when every password check slot stays taken
// past the max wait, a login is answered 503 with Retry-After instead of
// waiting as long as the flood lasts.
func TestLoginBusyAnswers503(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.hash = core.HashParams{MemoryKiB: 64 * 1024, Time: 8, Threads: 1}
		o.hashConcurrency = 1
		o.hashMaxWait = 50 * time.Millisecond
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.Post(e.URL+"/v1/auth", "application/json", strings.NewReader(`{"email":"slow@studio.example","password":"whatever-123"}`))
		if err == nil {
			res.Body.Close()
		}
	}()
	defer func() { <-done }()
	for e.Hasher.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	r := e.must(503, "POST", "/v1/auth", map[string]string{"email": ownerEmail, "password": ownerPassword})
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if msg := r.ErrMsg(t); !strings.Contains(msg, "busy") {
		t.Fatalf("message %q", msg)
	}
}

// TestEventsSort: sort=created_at reverses the event list (the transfer
// activities have their own list: downloads_test.go).
func TestEventsSort(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	e.must(401, "POST", "/v1/auth", map[string]string{"email": ownerEmail, "password": "not-the-password"})
	e.must(200, "PUT", "/v1/teams/"+e.TeamID, map[string]string{"name": "Renamed"}, userToken(o.Token))
	base := "/v1.1/teams/" + e.TeamID
	type page struct {
		Metadata struct{ Total int } `json:"metadata"`
		Records  []struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
		} `json:"records"`
	}
	var events, activities, newest, oldest page
	e.must(200, "GET", base+"/events?limit=100", nil, userToken(o.Token)).JSON(t, &events)
	e.must(200, "GET", base+"/events?limit=100", nil, userToken(o.Token)).JSON(t, &activities)
	e.must(200, "GET", base+"/events?limit=100&sort=-created_at", nil, userToken(o.Token)).JSON(t, &newest)
	e.must(200, "GET", base+"/events?limit=100&sort=created_at", nil, userToken(o.Token)).JSON(t, &oldest)
	n := len(events.Records)
	if n < 3 || events.Metadata.Total != n {
		t.Fatalf("events: %+v", events)
	}
	if len(activities.Records) != n || len(newest.Records) != n || len(oldest.Records) != n || oldest.Metadata.Total != n {
		t.Fatalf("lists differ in length: events %d, activities %d, -created_at %d, created_at %d",
			n, len(activities.Records), len(newest.Records), len(oldest.Records))
	}
	for i := range n {
		if activities.Records[i].ID != events.Records[i].ID || newest.Records[i].ID != events.Records[i].ID {
			t.Fatalf("activities or sort=-created_at differ from events at %d", i)
		}
		if oldest.Records[i].ID != events.Records[n-1-i].ID {
			t.Fatalf("sort=created_at is not the reverse of the default at %d", i)
		}
	}
	var second page
	e.must(200, "GET", base+"/events?limit=1&page=2&sort=created_at", nil, userToken(o.Token)).JSON(t, &second)
	if len(second.Records) != 1 || second.Records[0].ID != oldest.Records[1].ID {
		t.Fatalf("second page oldest first = %+v", second.Records)
	}
	r := e.must(400, "GET", base+"/events?sort=name", nil, userToken(o.Token))
	if r.errField(t) != "sort" {
		t.Fatalf("bad sort: %s", r.Body)
	}
	e.must(403, "GET", base+"/events", nil, userToken(e.addPerson(o.Token, "m@studio.example", core.RoleMember).Token))
}

// TestMustChangePasswordOverHTTP: with a generated password the owner may
// read their profile and change the password; every other request,
// including with an API key of theirs, is refused with 403 until then.
func TestMustChangePasswordOverHTTP(t *testing.T) {
	e := newEnv(t)
	o := e.owner() // has an API key made before the reset
	generated, err := e.Svc.ResetPassword(t.Context(), ownerEmail, "")
	if err != nil || generated == "" {
		t.Fatalf("reset: %q, %v", generated, err)
	}
	tok := e.login(ownerEmail, generated)
	const msg = "you must change the generated password first: PUT /v1/users/me/password"
	for _, c := range []struct {
		method, path string
		body         any
		cred         cred
	}{
		{"GET", "/v1/teams", nil, userToken(tok)},
		{"GET", "/v1/teams/" + e.TeamID, nil, userToken(tok)},
		{"GET", "/v1/teams/" + e.TeamID + "/members", nil, userToken(tok)},
		{"PUT", "/v1/users/me", map[string]string{"name": "Renamed"}, userToken(tok)},
		{"POST", "/v1/teams/" + e.TeamID + "/api_keys", map[string]string{"name": "k"}, userToken(tok)},
		{"GET", "/v1/teams", nil, apiKey(o.APIKey)},
	} {
		r := e.must(403, c.method, c.path, c.body, c.cred)
		if got := r.ErrMsg(t); got != msg {
			t.Errorf("%s %s: message %q, want %q", c.method, c.path, got, msg)
		}
	}
	me := e.must(200, "GET", "/v1/users/me", nil, userToken(tok)).Map(t)
	if me["must_change_password"] != true {
		t.Fatalf("profile = %v, want must_change_password", me)
	}
	e.must(204, "PUT", "/v1/users/me/password", map[string]string{"current_password": generated, "new_password": "my-own-password-1"}, userToken(tok))
	e.must(200, "GET", "/v1/teams", nil, userToken(tok))
	e.must(200, "GET", "/v1/teams", nil, apiKey(o.APIKey))
	if me := e.must(200, "GET", "/v1/users/me", nil, userToken(tok)).Map(t); me["must_change_password"] != false {
		t.Fatalf("profile after the change = %v", me)
	}
	e.must(204, "POST", "/v1/auth/logout", nil, userToken(tok))
}

// TestMetricsBehindProxy: behind a trusted reverse proxy on loopback,
// /metrics without a token answers only requests that are local at the
// origin, not ones the proxy forwards for remote clients.
func TestMetricsBehindProxy(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	r := e.must(403, "GET", "/metrics", nil, header("X-Forwarded-For", "203.0.113.5"))
	if msg := r.ErrMsg(t); !strings.Contains(msg, "loopback") {
		t.Fatalf("message %q", msg)
	}
	e.must(403, "GET", "/metrics", nil, header("X-Forwarded-For", "127.0.0.1, 203.0.113.5"))
	e.must(200, "GET", "/metrics", nil)
	e.must(200, "GET", "/metrics", nil, header("X-Forwarded-For", "127.0.0.1"))

	// Without trusted proxies the header is ignored: the loopback peer is
	// the client.
	plain := newEnv(t)
	plain.must(200, "GET", "/metrics", nil, header("X-Forwarded-For", "203.0.113.5"))
}

// sessionCookie logs in to the UI with extra headers and returns the
// Set-Cookie header.
func sessionCookie(t *testing.T, e *env, hdr map[string]string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", e.URL+"/v1/auth/session", strings.NewReader(`{"email":"`+ownerEmail+`","password":"`+ownerPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("session login: status %d", res.StatusCode)
	}
	return res.Header.Get("Set-Cookie")
}

// TestForwardedProtoNeedsTrustedProxy: X-Forwarded-Proto and
// X-Forwarded-Host decide the cookie only when the peer is a trusted
// proxy.
func TestForwardedProtoNeedsTrustedProxy(t *testing.T) {
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost"}
	e := newEnv(t)
	for name, hdr := range map[string]map[string]string{
		"proto":        {"X-Forwarded-Proto": "https"},
		"host":         {"X-Forwarded-Host": "localhost"},
		"proto & host": forwarded,
		"ssl":          {"X-Forwarded-Ssl": "on"},
	} {
		sc := sessionCookie(t, e, hdr)
		if !strings.HasPrefix(sc, "haul_session=") || strings.Contains(strings.ToLower(sc), "secure") {
			t.Errorf("untrusted peer with forwarded %s: Set-Cookie %q, want the plain haul_session without Secure", name, sc)
		}
	}

	trusted := newEnv(t, func(o *envOptions) {
		o.config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	sc := sessionCookie(t, trusted, map[string]string{"X-Forwarded-Proto": "https"})
	if !strings.HasPrefix(sc, "__Host-haul_session=") || !strings.Contains(strings.ToLower(sc), "secure") {
		t.Fatalf("trusted proxy forwarding https: Set-Cookie %q, want __Host-haul_session with Secure", sc)
	}
	if sc := sessionCookie(t, trusted, nil); !strings.HasPrefix(sc, "haul_session=") {
		t.Fatalf("trusted proxy forwarding plain http: Set-Cookie %q", sc)
	}
}
