package httpd_test

import (
	"strings"
	"testing"
	"time"

	"haul/core"
)

// TestPackages checks creation defaults, visibility (owner and admins see
// every package, others their own), filters, sort and paging.
func TestPackages(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	m := e.addPerson(o.Token, "member@studio.example", core.RoleMember)
	team := "/v1/teams/" + e.TeamID

	// Defaults: expiry from the team's custom_expiry_default (30 days at
	// bootstrap); no access_limit while the team's download limit is off.
	p := e.must(201, "POST", team+"/packages", map[string]any{"name": "defaults", "password": "s3cret"}, userToken(m.Token)).Map(t)
	exp, _ := time.Parse(time.RFC3339, p["expiry"].(string))
	if d := time.Until(exp); d < 29*24*time.Hour || d > 31*24*time.Hour || p["custom_expiry"] != false {
		t.Errorf("default expiry %v (in %v)", p["expiry"], d)
	}
	if p["access_limit"] != 0.0 || p["has_password"] != true || p["sender"] != "member@studio.example" {
		t.Errorf("package = %v", p)
	}
	if strings.Contains(string(e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+p["id"].(string), nil, userToken(m.Token)).Body), "s3cret") {
		t.Error("the password leaks")
	}
	want := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	space := e.must(201, "POST", team+"/spaces", map[string]any{"name": "Editors"}, userToken(o.Token)).Map(t)["id"].(string)
	q := e.must(201, "POST", team+"/packages", map[string]any{"name": "Alpha", "expiry": want.Format(time.RFC3339Nano), "teamspace_id": space}, apiKey(o.APIKey)).Map(t)
	if q["expiry"] != want.Format("2006-01-02T15:04:05.000Z") || q["custom_expiry"] != true || q["teamspace_id"] != space {
		t.Errorf("custom expiry: %v", q)
	}
	for _, c := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"past expiry", map[string]any{"name": "x", "expiry": "2020-01-01T00:00:00Z"}, "future"},
		{"far expiry", map[string]any{"name": "x", "expiry": time.Now().Add(400 * 24 * time.Hour).Format(time.RFC3339)}, "365 days"},
		{"bad recipient", map[string]any{"name": "x", "recipients": []string{"nope"}}, "not a valid email"},
		{"bad teamspace", map[string]any{"name": "x", "teamspace_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "not a teamspace"},
		{"no name", map[string]any{"description": "x"}, "name is required"},
		{"negative limit", map[string]any{"name": "x", "access_limit": -1}, "access_limit"},
	} {
		if r := e.do("POST", team+"/packages", c.body, apiKey(o.APIKey)); r.Status != 400 || !strings.Contains(r.ErrMsg(t), c.msg) {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	e.must(201, "POST", team+"/packages", map[string]any{"name": "beta"}, apiKey(o.APIKey))

	names := func(cr cred, query string) []string {
		t.Helper()
		var l struct {
			Metadata struct{ Total int }
			Records  []map[string]any
		}
		e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages"+query, nil, cr).JSON(t, &l)
		var out []string
		for _, r := range l.Records {
			if _, ok := r["access_token"]; ok {
				t.Errorf("a listed package carries its access_token")
			}
			out = append(out, r["name"].(string))
		}
		return out
	}
	if got := names(apiKey(o.APIKey), ""); len(got) != 0 {
		t.Errorf("default status (finalized, expired) lists %v", got)
	}
	if got := strings.Join(names(apiKey(o.APIKey), "?status[]=new&sort=name"), ","); got != "Alpha,beta,defaults" {
		t.Errorf("owner, sorted by name: %s", got)
	}
	if got := strings.Join(names(apiKey(o.APIKey), "?status=new&sort=-created_at&limit=2&page=1"), ","); got != "beta,Alpha" {
		t.Errorf("owner, newest first, page 1 of 2: %s", got)
	}
	if got := strings.Join(names(userToken(m.Token), "?status[]=new"), ","); got != "defaults" {
		t.Errorf("member sees %s, want only their own", got)
	}
	if r := e.do("GET", "/v1.1/teams/"+e.TeamID+"/packages/"+q["id"].(string), nil, userToken(m.Token)); r.Status != 403 {
		t.Errorf("member reading the owner's package: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1.1/teams/"+e.TeamID+"/packages?sort=colour", nil, userToken(m.Token)); r.Status != 400 {
		t.Errorf("bad sort: %d", r.Status)
	}
	if r := e.do("GET", "/v1.1/teams/"+e.TeamID+"/packages?status[]=lost", nil, userToken(m.Token)); r.Status != 400 {
		t.Errorf("bad status: %d", r.Status)
	}
	var legacy []map[string]any
	e.must(200, "GET", team+"/packages?new=true&finalized=false&expired=false", nil, userToken(o.Token)).JSON(t, &legacy)
	if len(legacy) != 3 {
		t.Errorf("legacy new=true lists %d", len(legacy))
	}
	// Package-token changes: text and expiry.
	qtok := header("X-Package-Token", e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages/"+q["id"].(string), nil, apiKey(o.APIKey)).Map(t)["access_token"].(string))
	qp := "/v1/packages/" + q["id"].(string)
	if up := e.must(200, "PUT", qp, map[string]any{"description": "new words"}, qtok).Map(t); up["name"] != "Alpha" || up["description"] != "new words" {
		t.Errorf("update: %v", up)
	}
	later := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	if up := e.must(200, "PUT", qp+"/expiry", map[string]any{"unlimited_storage": false, "expiry": later.Format(time.RFC3339Nano)}, qtok).Map(t); up["expiry"] != later.Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("expiry: %v", up)
	}
	for _, body := range []map[string]any{{"unlimited_storage": true}, {"expiry": "2020-01-01T00:00:00Z"}, {}} {
		if r := e.do("PUT", qp+"/expiry", body, qtok); r.Status != 400 {
			t.Errorf("expiry %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := e.do("PUT", qp, map[string]any{"name": ""}, qtok); r.Status != 400 {
		t.Errorf("empty name: %d", r.Status)
	}
	if r := e.do("PUT", qp, map[string]any{"name": "x"}, apiKey(o.APIKey)); r.Status != 401 {
		t.Errorf("update with an API key: %d", r.Status)
	}

	// Another team's package is not found through this team.
	b, err := e.Svc.CreateTeam(t.Context(), core.BootstrapRequest{TeamName: "Other", OwnerEmail: ownerEmail})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/v1.1/teams/"+b.TeamID+"/packages/"+q["id"].(string), nil, userToken(o.Token)); r.Status != 404 {
		t.Errorf("package through another team: %d %s", r.Status, r.Body)
	}
}
