package httpd_test

import (
	"testing"

	"haul/core"
)

func TestHarnessRoles(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	p := e.addPerson(o.Token, "member@studio.example", core.RoleMember)
	r := e.must(200, "GET", "/v1/teams", nil, userToken(p.Token))
	var teams []map[string]any
	r.JSON(t, &teams)
	if len(teams) != 1 || teams[0]["id"] != e.TeamID {
		t.Fatalf("teams = %v", teams)
	}
	e.must(403, "PUT", "/v1/teams/"+e.TeamID, map[string]any{"name": "x"}, userToken(p.Token))
	e.must(200, "PUT", "/v1/teams/"+e.TeamID, map[string]any{"name": "New Name"}, apiKey(o.APIKey))
}
