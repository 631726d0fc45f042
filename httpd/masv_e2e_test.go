package httpd_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// This file is a client script written only from MASV's public API
// documentation (see /work/shared/reference/masv-api.md §0–§2, §10): it
// speaks plain net/http and encoding/json into generic maps and knows
// nothing of haul's Go types. Only the server under it comes from the
// test harness.

// masvTime is MASV's timestamp format: ISO 8601 UTC with milliseconds.
var masvTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// masvZeroTime is MASV's "unset" time, e.g. an API key that never expires.
const masvZeroTime = "0001-01-01T00:00:00.000Z"

type obj = map[string]any

// masvScript is a minimal MASV API client.
type masvScript struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// answer is one HTTP answer.
type answer struct {
	method, path string
	status       int
	header       http.Header
	raw          []byte
}

// call sends body (JSON-encoded unless nil) with the given headers.
func (s *masvScript) call(method, path string, body any, hdr ...string) answer {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return answer{method: method, path: path, status: res.StatusCode, header: res.Header, raw: raw}
}

// want fails the test unless the status is code.
func (a answer) want(t *testing.T, code int) answer {
	t.Helper()
	if a.status != code {
		t.Fatalf("%s %s: status %d, want %d: %s", a.method, a.path, a.status, code, a.raw)
	}
	return a
}

// wantError checks a MASV error body ({code, errors:[{code,msg,type}]})
// with the given status.
func (a answer) wantError(t *testing.T, code int) string {
	t.Helper()
	a.want(t, code)
	var b struct {
		Code   int `json:"code"`
		Errors []struct {
			Code string `json:"code"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(a.raw, &b); err != nil || b.Code != code || len(b.Errors) == 0 ||
		b.Errors[0].Msg == "" || b.Errors[0].Code == "" || b.Errors[0].Type == "" {
		t.Fatalf("%s %s: not a MASV error body for %d: %s", a.method, a.path, code, a.raw)
	}
	return b.Errors[0].Msg
}

func (a answer) object(t *testing.T) obj {
	t.Helper()
	var m obj
	if err := json.Unmarshal(a.raw, &m); err != nil {
		t.Fatalf("%s %s: want a JSON object: %v: %s", a.method, a.path, err, a.raw)
	}
	return m
}

func (a answer) array(t *testing.T) []obj {
	t.Helper()
	var m []obj
	if err := json.Unmarshal(a.raw, &m); err != nil {
		t.Fatalf("%s %s: want a JSON array of objects: %v: %s", a.method, a.path, err, a.raw)
	}
	return m
}

func keysOf(m obj) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// exactKeys fails unless m has exactly the keys want.
func exactKeys(t *testing.T, what string, m obj, want ...string) {
	t.Helper()
	w := slices.Clone(want)
	sort.Strings(w)
	if got := keysOf(m); !slices.Equal(got, w) {
		t.Fatalf("%s: keys %v, want exactly %v", what, got, w)
	}
}

// hasKeys fails unless m has at least the keys want.
func hasKeys(t *testing.T, what string, m obj, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s: no %q in %v", what, k, keysOf(m))
		}
	}
}

// str returns m[k] as a non-empty string.
func str(t *testing.T, what string, m obj, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok || s == "" {
		t.Fatalf("%s: %q = %#v, want a non-empty string", what, k, m[k])
	}
	return s
}

func sub(t *testing.T, what string, m obj, k string) obj {
	t.Helper()
	o, ok := m[k].(obj)
	if !ok {
		t.Fatalf("%s: %q = %#v, want an object", what, k, m[k])
	}
	return o
}

func arr(t *testing.T, what string, m obj, k string) []any {
	t.Helper()
	a, ok := m[k].([]any)
	if !ok {
		t.Fatalf("%s: %q = %#v, want an array", what, k, m[k])
	}
	return a
}

// masvLogin is POST /v1/auth and checks MASV's answer shape:
// {teams:[{id,name,subdomain}], token, user:{email,id,level,name,time_zone}}.
// It returns the token, the user id and the first team id.
func (s *masvScript) masvLogin(email, password string) (token, userID, teamID string) {
	t := s.t
	t.Helper()
	m := s.call("POST", "/v1/auth", obj{"email": email, "password": password}).want(t, 200).object(t)
	// Exactly MASV's three keys: a strict client may refuse anything else.
	exactKeys(t, "login", m, "teams", "token", "user")
	token = str(t, "login", m, "token")
	user := sub(t, "login", m, "user")
	exactKeys(t, "login user", user, "email", "id", "level", "name", "time_zone")
	for _, k := range []string{"email", "id", "level", "name", "time_zone"} {
		if _, ok := user[k].(string); !ok {
			t.Fatalf("login user: %q = %#v, want a string", k, user[k])
		}
	}
	if user["email"] != email {
		t.Fatalf("login user email = %v, want %s", user["email"], email)
	}
	userID = str(t, "login user", user, "id")
	teams := arr(t, "login", m, "teams")
	if len(teams) == 0 {
		t.Fatalf("login: no teams: %v", m)
	}
	for _, x := range teams {
		tm, ok := x.(obj)
		if !ok {
			t.Fatalf("login teams: %#v is not an object", x)
		}
		exactKeys(t, "login team", tm, "id", "name", "subdomain")
		str(t, "login team", tm, "id")
		str(t, "login team", tm, "name")
		str(t, "login team", tm, "subdomain")
	}
	return token, userID, teams[0].(obj)["id"].(string)
}

func TestE2EMASVScript(t *testing.T) { e2eMASVScript(t, newEnv(t)) }

func e2eMASVScript(t *testing.T, e *env) {
	s := &masvScript{t: t, base: e.URL, hc: &http.Client{Timeout: 30 * time.Second}}
	// Every secret the script makes or uses; none may reach the log.
	secrets := map[string]string{"owner password": ownerPassword}

	// 1. Log in with email and password (§1.2).
	ownerToken, ownerUserID, teamID := s.masvLogin(ownerEmail, ownerPassword)
	secrets["owner token"] = ownerToken
	if teamID != e.TeamID {
		t.Fatalf("login team %s, want the bootstrap team %s", teamID, e.TeamID)
	}
	team := "/v1/teams/" + teamID
	team11 := "/v1.1/teams/" + teamID
	asOwner := []string{"X-User-Token", ownerToken}

	// 2. Create an API key with the user token (§1.4).
	k := s.call("POST", team+"/api_keys", obj{"name": "ci script", "description": "nightly uploads",
		"expiry": masvZeroTime, "state": "active"}, asOwner...).want(t, 201).object(t)
	hasKeys(t, "api key", k, "id", "name", "description", "expiry", "state", "created_at", "key")
	key := str(t, "api key", k, "key")
	secrets["owner API key"] = key
	keyID := str(t, "api key", k, "id")
	if c := str(t, "api key", k, "created_at"); !masvTime.MatchString(c) {
		t.Fatalf("api key created_at %q is not in MASV's time format", c)
	}
	if k["expiry"] != masvZeroTime {
		t.Fatalf("api key expiry = %v, want %s", k["expiry"], masvZeroTime)
	}
	if k["name"] != "ci script" || k["description"] != "nightly uploads" || k["state"] != "active" {
		t.Fatalf("api key echoes %v", k)
	}
	withKey := []string{"X-API-KEY", key}

	// 3. From here on the script holds only the API key.
	teams := s.call("GET", "/v1/teams", nil, withKey...).want(t, 200).array(t)
	if len(teams) != 1 || teams[0]["id"] != teamID {
		t.Fatalf("GET /v1/teams with the key = %v", teams)
	}
	hasKeys(t, "team", teams[0], "id", "name", "subdomain", "custom_expiry_enabled", "custom_expiry_default",
		"download_limit_enabled", "download_limit_default", "max_email_recipients")
	teamName := teams[0]["name"]

	memberKeys := []string{"approved", "email", "id", "user_id", "team_id", "name", "invitation_accepted",
		"invitation_kind", "invitation_sent", "invited", "invited_by", "mfa_factors", "policy_key",
		"policy_name", "teamspaces"}
	members := s.call("GET", team+"/members", nil, withKey...).want(t, 200).array(t)
	ownerMemberID := ""
	for _, m := range members {
		hasKeys(t, "member", m, memberKeys...)
		if m["id"] == m["user_id"] {
			t.Fatalf("member id equals user id (%v): the membership id must be its own", m["id"])
		}
		if m["team_id"] != teamID {
			t.Fatalf("member team_id = %v", m["team_id"])
		}
		arr(t, "member", m, "mfa_factors")
		arr(t, "member", m, "teamspaces")
		if m["email"] == ownerEmail {
			ownerMemberID = str(t, "member", m, "id")
			if m["user_id"] != ownerUserID || m["policy_key"] != "owner" {
				t.Fatalf("owner membership = %v", m)
			}
		}
	}
	if ownerMemberID == "" {
		t.Fatalf("the owner is not among the members: %v", members)
	}

	const memberEmail = "new.member@studio.example"
	inv := s.call("POST", team+"/members", obj{"email": memberEmail, "role": "member"}, withKey...).want(t, 201).object(t)
	hasKeys(t, "invitation", inv, memberKeys...)
	invURL := str(t, "invitation", inv, "invitation_url")
	newMemberID := str(t, "invitation", inv, "id")
	newUserID := str(t, "invitation", inv, "user_id")
	if inv["policy_key"] != "member" || inv["email"] != memberEmail || newMemberID == newUserID {
		t.Fatalf("invitation = %v", inv)
	}
	u, err := url.Parse(invURL)
	if err != nil {
		t.Fatalf("invitation_url %q: %v", invURL, err)
	}
	invToken := u.Path[strings.LastIndex(u.Path, "/")+1:]
	if len(invToken) < 16 {
		t.Fatalf("invitation_url %q carries no token", invURL)
	}
	secrets["invitation token"] = invToken

	// Teamspaces (§2.2).
	sp := s.call("POST", team+"/spaces", obj{"name": "Editors", "member_ids": []string{ownerMemberID, newMemberID}}, withKey...).
		want(t, 201).object(t)
	hasKeys(t, "teamspace", sp, "id", "name", "members")
	spaceID := str(t, "teamspace", sp, "id")
	if sp["name"] != "Editors" {
		t.Fatalf("teamspace name = %v", sp["name"])
	}
	checkSpaceMembers := func(what string, sp obj) {
		t.Helper()
		got := map[string]string{}
		for _, x := range arr(t, what, sp, "members") {
			m, ok := x.(obj)
			if !ok {
				t.Fatalf("%s: member %#v is not an object", what, x)
			}
			hasKeys(t, what+" member", m, "id", "name", "user_id")
			got[str(t, what, m, "id")] = str(t, what, m, "user_id")
		}
		want := map[string]string{ownerMemberID: ownerUserID, newMemberID: newUserID}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: members (membership id → user id) = %v, want %v", what, got, want)
		}
	}
	checkSpaceMembers("created teamspace", sp)

	list := func(page string) obj {
		t.Helper()
		l := s.call("GET", team11+"/spaces?page="+page+"&limit=10", nil, withKey...).want(t, 200).object(t)
		md := sub(t, "teamspace list", l, "metadata")
		if total, ok := md["total"].(float64); !ok || total != 1 {
			t.Fatalf("teamspace list metadata.total = %#v, want 1", md["total"])
		}
		recs := arr(t, "teamspace list", l, "records")
		if len(recs) != 1 || recs[0].(obj)["id"] != spaceID {
			t.Fatalf("teamspace list records = %v", recs)
		}
		return l
	}
	if p0, p1 := list("0"), list("1"); !reflect.DeepEqual(p0["records"], p1["records"]) {
		t.Fatalf("page=0 and page=1 differ:\n%v\n%v", p0, p1)
	}
	got := s.call("GET", "/v1/spaces/"+spaceID, nil, withKey...).want(t, 200).object(t)
	if got["id"] != spaceID || got["name"] != "Editors" {
		t.Fatalf("GET /v1/spaces/%s = %v", spaceID, got)
	}
	checkSpaceMembers("fetched teamspace", got)

	// 4. The invited member joins and logs in with the same script.
	const memberPassword = "member-chose-this-1"
	secrets["member password"] = memberPassword
	acc := s.call("POST", "/v1/invitations/"+invToken+"/accept", obj{"name": "New Member", "password": memberPassword}).want(t, 200).object(t)
	secrets["member token (accept)"] = str(t, "accept", acc, "token")
	memberToken, memberUserID, memberTeam := s.masvLogin(memberEmail, memberPassword)
	secrets["member token"] = memberToken
	if memberUserID != newUserID || memberTeam != teamID {
		t.Fatalf("member login: user %s team %s", memberUserID, memberTeam)
	}
	asMember := []string{"X-User-Token", memberToken}
	// What a member may not do is refused with 403 and changes nothing.
	teamBefore := s.call("GET", team, nil, withKey...).want(t, 200).raw
	membersBefore := s.call("GET", team+"/members", nil, withKey...).want(t, 200).raw
	spacesBefore := s.call("GET", team11+"/spaces?limit=100", nil, withKey...).want(t, 200).raw
	for _, f := range []struct {
		what, method, path string
		body               any
	}{
		{"create an API key", "POST", team + "/api_keys", obj{"name": "mine", "state": "active"}},
		{"add a member", "POST", team + "/members", obj{"email": "friend@studio.example", "role": "member"}},
		{"update the team", "PUT", team, obj{"name": "Taken Over"}},
		{"create a teamspace", "POST", team + "/spaces", obj{"name": "Mine"}},
		{"list events", "GET", team11 + "/events", nil},
		{"change the owner's role", "PUT", team + "/members/" + ownerMemberID, obj{"role": "member"}},
		{"promote themself", "PUT", team + "/members/" + newMemberID, obj{"role": "admin"}},
		{"remove the owner", "DELETE", team + "/members/" + ownerMemberID, nil},
	} {
		msg := s.call(f.method, f.path, f.body, asMember...).wantError(t, 403)
		t.Logf("member may not %s: %s", f.what, msg)
	}
	if !bytes.Equal(teamBefore, s.call("GET", team, nil, withKey...).want(t, 200).raw) ||
		!bytes.Equal(membersBefore, s.call("GET", team+"/members", nil, withKey...).want(t, 200).raw) ||
		!bytes.Equal(spacesBefore, s.call("GET", team11+"/spaces?limit=100", nil, withKey...).want(t, 200).raw) {
		t.Fatal("a refused member request changed the team, its members or its teamspaces")
	}

	// 5. An API key cannot change profile data or manage API keys (§1.1).
	s.call("PUT", "/v1/users/me/password", obj{"current_password": ownerPassword, "new_password": "stolen-password-1"}, withKey...).wantError(t, 403)
	s.call("POST", team+"/api_keys", obj{"name": "child", "state": "active"}, withKey...).wantError(t, 403)
	s.call("GET", team+"/api_keys", nil, withKey...).wantError(t, 403)
	s.masvLogin(ownerEmail, ownerPassword) // the password is unchanged
	keys := s.call("GET", team+"/api_keys", nil, asOwner...).want(t, 200).array(t)
	if len(keys) != 1 || keys[0]["id"] != keyID {
		t.Fatalf("API keys after refused creation = %v", keys)
	}
	for _, k := range keys {
		if _, ok := k["key"]; ok {
			t.Fatalf("a listed API key shows its value: %v", k)
		}
	}

	// 6. When a key stops working (§1.4): deleted, inactive, expired, or
	// its user removed from the team.
	newKey := func(name string, extra obj) (id, value string) {
		t.Helper()
		b := obj{"name": name, "state": "active"}
		for k, v := range extra {
			b[k] = v
		}
		k := s.call("POST", team+"/api_keys", b, asOwner...).want(t, 201).object(t)
		value = str(t, name, k, "key")
		secrets[name] = value
		s.call("GET", "/v1/teams", nil, "X-API-KEY", value).want(t, 200)
		return str(t, name, k, "id"), value
	}
	refused := func(value string) {
		t.Helper()
		s.call("GET", "/v1/teams", nil, "X-API-KEY", value).wantError(t, 401)
		s.call("PUT", team, obj{"name": "Changed By A Dead Key"}, "X-API-KEY", value).wantError(t, 401)
	}

	delID, delKey := newKey("deleted key", nil)
	s.call("DELETE", "/v1/api_keys/"+delID, nil, asOwner...).want(t, 204)
	refused(delKey)

	offID, offKey := newKey("inactive key", nil)
	s.call("PUT", "/v1/api_keys/"+offID, obj{"state": "inactive"}, asOwner...).want(t, 200)
	refused(offKey)
	s.call("PUT", "/v1/api_keys/"+offID, obj{"state": "active"}, asOwner...).want(t, 200)
	s.call("GET", "/v1/teams", nil, "X-API-KEY", offKey).want(t, 200)

	expiry := time.Now().Add(1200 * time.Millisecond)
	_, expKey := newKey("expiring key", obj{"expiry": expiry.UTC().Format("2006-01-02T15:04:05.000Z")})
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)
	refused(expKey)

	s.call("PUT", team+"/members/"+newMemberID, obj{"role": "integration_manager"}, withKey...).want(t, 200)
	mk := s.call("POST", team+"/api_keys", obj{"name": "member key", "state": "active"}, asMember...).want(t, 201).object(t)
	memberKey := str(t, "member key", mk, "key")
	secrets["member API key"] = memberKey
	s.call("GET", team+"/members", nil, "X-API-KEY", memberKey).want(t, 200)
	s.call("DELETE", team+"/members/"+newMemberID, nil, withKey...).want(t, 204)
	refused(memberKey)

	if teamName != s.call("GET", team, nil, withKey...).want(t, 200).object(t)["name"] {
		t.Fatal("a dead key changed the team's name")
	}

	// 7. No secret reached the server log.
	logs := e.Logs.String()
	if !strings.Contains(logs, "msg=request") {
		t.Fatalf("the server log has no request lines:\n%s", logs)
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log contains the %s", what)
		}
	}
}
