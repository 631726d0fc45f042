package httpd_test

import (
	"strings"
	"testing"

	"haul/core"
)

// TestSecurityEvents: logins, failed logins, key, role and member changes
// land in the team's event store, newest first, filterable by type.
func TestSecurityEvents(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	e.must(401, "POST", "/v1/auth", map[string]string{"email": ownerEmail, "password": "not-the-password"})
	p := e.addPerson(o.Token, "editor@studio.example", core.RoleMember)
	e.must(200, "PUT", "/v1/teams/"+e.TeamID+"/members/"+p.MemberID, map[string]string{"role": "guest"}, userToken(o.Token))
	e.must(204, "DELETE", "/v1/teams/"+e.TeamID+"/members/"+p.MemberID, nil, userToken(o.Token))

	type event struct {
		Type     string            `json:"type"`
		TargetID string            `json:"target_id"`
		Details  map[string]string `json:"details"`
		Actor    struct {
			Email string `json:"email"`
			Via   string `json:"via"`
		} `json:"actor"`
		CreatedAt string `json:"created_at"`
	}
	var page struct {
		Metadata struct{ Total int } `json:"metadata"`
		Records  []event             `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?limit=100", nil, userToken(o.Token)).JSON(t, &page)
	var types []string
	for _, ev := range page.Records {
		types = append(types, ev.Type)
	}
	got := strings.Join(types, ",")
	for _, want := range []string{core.EvLoginSucceeded, core.EvLoginFailed, core.EvAPIKeyCreated, core.EvMemberInvited,
		core.EvMemberJoined, core.EvMemberRoleChanged, core.EvMemberRemoved} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s event in %s", want, got)
		}
	}
	if page.Metadata.Total != len(page.Records) {
		t.Errorf("total %d, records %d", page.Metadata.Total, len(page.Records))
	}
	if page.Records[0].Type != core.EvMemberRemoved {
		t.Errorf("newest event is %s, want the removal", page.Records[0].Type)
	}
	for i := 1; i < len(page.Records); i++ {
		if page.Records[i-1].CreatedAt < page.Records[i].CreatedAt {
			t.Fatalf("events not newest first at %d", i)
		}
	}

	var failed struct {
		Metadata struct{ Total int } `json:"metadata"`
		Records  []event             `json:"records"`
	}
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?types[]=auth.login_failed", nil, apiKey(o.APIKey)).JSON(t, &failed)
	if failed.Metadata.Total != 1 || failed.Records[0].Actor.Email != ownerEmail {
		t.Fatalf("failed logins = %+v", failed)
	}
	var role struct{ Records []event }
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?types[]=member.role_changed", nil, apiKey(o.APIKey)).JSON(t, &role)
	if len(role.Records) != 1 || role.Records[0].Details["from"] != "member" || role.Records[0].Details["to"] != "guest" ||
		role.Records[0].Actor.Via != "user_token" || role.Records[0].TargetID != p.MemberID {
		t.Fatalf("role change event = %+v", role.Records)
	}
	// Paging: two per page, the second page continues the first.
	var p1, p2 struct{ Records []event }
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?limit=2&page=1", nil, apiKey(o.APIKey)).JSON(t, &p1)
	e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/events?limit=2&page=2", nil, apiKey(o.APIKey)).JSON(t, &p2)
	if len(p1.Records) != 2 || len(p2.Records) != 2 || p1.Records[1].CreatedAt < p2.Records[0].CreatedAt {
		t.Fatalf("paging: %+v then %+v", p1.Records, p2.Records)
	}
}
