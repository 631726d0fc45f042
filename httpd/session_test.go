package httpd_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestCookieSessionAndCSRF: the UI's cookie session works for reads, needs
// the CSRF token for changes, and logout ends it.
func TestCookieSessionAndCSRF(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "POST", "/v1/auth/session", map[string]string{"email": ownerEmail, "password": ownerPassword})
	body := r.Map(t)
	if body["token"] != "" {
		t.Fatalf("the cookie login exposed its token to page scripts: %v", body["token"])
	}
	csrf, _ := body["haul"].(map[string]any)["csrf_token"].(string)
	if csrf == "" {
		t.Fatalf("no csrf_token in %s", r.Body)
	}
	setCookie := r.Header.Get("Set-Cookie")
	// 127.0.0.1 is neither HTTPS nor localhost: the plain name, no Secure.
	for _, want := range []string{"haul_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(strings.ToLower(setCookie), strings.ToLower(want)) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	cookie := header("Cookie", strings.SplitN(setCookie, ";", 2)[0])

	e.must(200, "GET", "/v1/teams", nil, cookie)
	rename := map[string]string{"name": "Renamed"}
	if msg := e.must(403, "PUT", "/v1/teams/"+e.TeamID, rename, cookie).ErrMsg(t); !strings.Contains(msg, "CSRF") {
		t.Errorf("missing CSRF token: message %q does not mention CSRF", msg)
	}
	e.must(403, "PUT", "/v1/teams/"+e.TeamID, rename, cookie, header("X-CSRF-Token", csrf+"x"))
	var team map[string]any
	e.must(200, "GET", "/v1/teams/"+e.TeamID, nil, cookie).JSON(t, &team)
	if team["name"] != "Studio" {
		t.Fatalf("a refused change changed the team: %v", team["name"])
	}
	e.must(200, "PUT", "/v1/teams/"+e.TeamID, rename, cookie, header("X-CSRF-Token", csrf))

	// A cookie session is not a user token and vice versa.
	tok := strings.TrimPrefix(cookie.value, "haul_session=")
	e.must(401, "GET", "/v1/teams", nil, userToken(tok))

	e.must(204, "POST", "/v1/auth/logout", nil, cookie, header("X-CSRF-Token", csrf))
	e.must(401, "GET", "/v1/teams", nil, cookie)
}

// TestSecureCookieOnLocalhost: on localhost the session cookie takes the
// __Host- prefix and Secure, so sibling portal subdomains cannot touch it.
func TestSecureCookieOnLocalhost(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("POST", e.URL+"/v1/auth/session", strings.NewReader(`{"email":"`+ownerEmail+`","password":"`+ownerPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "localhost:8080"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-haul_session=") || !strings.Contains(strings.ToLower(sc), "secure") || strings.Contains(strings.ToLower(sc), "domain=") {
		t.Fatalf("Set-Cookie on localhost = %q", sc)
	}
}
