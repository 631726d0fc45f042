package httpd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"haul/core"
)

// The role matrix is written out by hand on purpose: it must not be
// derived from core.Allowed or core's permission table, so that a change
// to the table fails here until someone decides the new answer is right.
// It follows MASV's roles (§1.5 of shared/reference/masv-api.md): owner
// and admins run the team, integration managers make their own API keys,
// members use the team, guests only reach what they are granted; API keys
// act with their user's rights but never manage keys or change profile
// data.

// noKey marks a cell that does not apply: members and guests have no API key.
const noKey = 0

// roleWant is one cell: the status with the role's user token and with the
// role's API key.
type roleWant struct{ tok, key int }

// roleRow is one action: a route and the expected status per role.
type roleRow struct {
	name string
	// want holds the columns owner, admin, integration_manager, member,
	// guest, in that order.
	want [5]roleWant
	do   func(c *roleCell) resp
}

var matrixRoles = [5]core.Role{core.RoleOwner, core.RoleAdmin, core.RoleIntegrationManager, core.RoleMember, core.RoleGuest}

// roleFixture is what the matrix knows about the team.
type roleFixture struct {
	owner    *person
	people   map[core.Role]*person
	keysmith *person                // an integration manager who makes "someone else's" keys and fills teamspaces
	spare    map[core.Role][]string // own API key ids of members and guests (made while integration managers)
	seq      int
}

// roleCell is the context of one request of the matrix.
type roleCell struct {
	e   *env // a copy of the matrix env bound to the subtest
	f   *roleFixture
	who *person
	cr  cred // the credential under test
}

func (c *roleCell) uniq(prefix string) string {
	c.f.seq++
	return fmt.Sprintf("%s-%03d", prefix, c.f.seq)
}

func (c *roleCell) ownerTok() cred { return userToken(c.f.owner.Token) }

// join invites a throwaway person with role as the owner and accepts the
// invitation; the accept answer's token is theirs.
func (c *roleCell) join(role core.Role) *person {
	c.e.t.Helper()
	return joinTeam(c.e, c.f.owner.Token, c.e.TeamID, c.uniq("throwaway")+"@studio.example", role)
}

func joinTeam(e *env, inviterToken, teamID, email string, role core.Role) *person {
	e.t.Helper()
	r := e.must(201, "POST", "/v1/teams/"+teamID+"/members", map[string]string{"email": email, "role": string(role)}, userToken(inviterToken))
	inv := r.Map(e.t)
	url := inv["invitation_url"].(string)
	pw := "pw-" + email + "-long"
	acc := e.must(200, "POST", "/v1/invitations/"+url[strings.LastIndex(url, "/")+1:]+"/accept", map[string]string{"password": pw})
	return &person{Email: email, Password: pw, MemberID: inv["id"].(string), UserID: inv["user_id"].(string),
		Token: acc.Map(e.t)["token"].(string), Role: role}
}

// ownKey returns an API key of the caller: a fresh one for roles that may
// make keys, one made before their demotion for members and guests.
func (c *roleCell) ownKey(i int) string {
	c.e.t.Helper()
	if ids := c.f.spare[c.who.Role]; ids != nil {
		return ids[i]
	}
	r := c.e.must(201, "POST", "/v1/teams/"+c.e.TeamID+"/api_keys", map[string]string{"name": c.uniq("own"), "state": "active"}, userToken(c.who.Token))
	return r.Map(c.e.t)["id"].(string)
}

// othersKey returns a fresh API key made by someone else (the keysmith).
func (c *roleCell) othersKey() string {
	c.e.t.Helper()
	r := c.e.must(201, "POST", "/v1/teams/"+c.e.TeamID+"/api_keys", map[string]string{"name": c.uniq("others"), "state": "active"}, userToken(c.f.keysmith.Token))
	return r.Map(c.e.t)["id"].(string)
}

// space makes a fresh teamspace as the owner with the given members.
func (c *roleCell) space(members ...string) string {
	c.e.t.Helper()
	r := c.e.must(201, "POST", "/v1/teams/"+c.e.TeamID+"/spaces", map[string]any{"name": c.uniq("space"), "member_ids": members}, c.ownerTok())
	return r.Map(c.e.t)["id"].(string)
}

func (c *roleCell) team(suffix string) string { return "/v1/teams/" + c.e.TeamID + suffix }

func matrixRows() []roleRow {
	return []roleRow{
		// Columns: owner, admin, integration_manager, member, guest;
		// each {with X-User-Token, with X-API-KEY}.
		{"team.read", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {200, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team(""), nil, c.cr)
		}},
		{"team.update", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("PUT", c.team(""), map[string]any{"max_email_recipients": 31}, c.cr)
		}},
		{"team.transfer_ownership", [5]roleWant{{204, 204}, {403, 403}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			target := c.join(core.RoleAdmin)
			r := c.e.do("POST", c.team("/transfer_ownership"), map[string]string{"member_id": target.MemberID}, c.cr)
			if r.Status == 204 { // give the team back so later cells keep their roles
				c.e.must(204, "POST", c.team("/transfer_ownership"), map[string]string{"member_id": c.f.owner.MemberID}, userToken(target.Token))
			}
			return r
		}},
		{"member.list", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team("/members"), nil, c.cr)
		}},
		{"member.add", [5]roleWant{{201, 201}, {201, 201}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/members"), map[string]string{"email": c.uniq("invitee") + "@studio.example", "role": "member"}, c.cr)
		}},
		{"member.update_role", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			target := c.join(core.RoleMember)
			return c.e.do("PUT", c.team("/members/"+target.MemberID), map[string]string{"role": "guest"}, c.cr)
		}},
		{"member.remove", [5]roleWant{{204, 204}, {204, 204}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			target := c.join(core.RoleMember)
			return c.e.do("DELETE", c.team("/members/"+target.MemberID), nil, c.cr)
		}},
		{"api_key.create", [5]roleWant{{201, 403}, {201, 403}, {201, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/api_keys"), map[string]string{"name": c.uniq("created"), "state": "active"}, c.cr)
		}},
		{"api_key.list", [5]roleWant{{200, 403}, {200, 403}, {200, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team("/api_keys"), nil, c.cr)
		}},
		{"api_key.update_own", [5]roleWant{{200, 403}, {200, 403}, {200, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("PUT", "/v1/api_keys/"+c.ownKey(0), map[string]string{"name": c.uniq("renamed")}, c.cr)
		}},
		{"api_key.delete_own", [5]roleWant{{204, 403}, {204, 403}, {204, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("DELETE", "/v1/api_keys/"+c.ownKey(1), nil, c.cr)
		}},
		{"api_key.update_others", [5]roleWant{{200, 403}, {403, 403}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("PUT", "/v1/api_keys/"+c.othersKey(), map[string]string{"state": "inactive"}, c.cr)
		}},
		{"api_key.delete_others", [5]roleWant{{204, 403}, {403, 403}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("DELETE", "/v1/api_keys/"+c.othersKey(), nil, c.cr)
		}},
		{"teamspace.create", [5]roleWant{{201, 201}, {201, 201}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/spaces"), map[string]any{"name": c.uniq("created-space")}, c.cr)
		}},
		{"teamspace.list", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/spaces", nil, c.cr)
		}},
		{"teamspace.get_in_space", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1/spaces/"+c.space(c.who.MemberID, c.f.keysmith.MemberID), nil, c.cr)
		}},
		{"teamspace.get_not_in_space", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1/spaces/"+c.space(c.f.keysmith.MemberID), nil, c.cr)
		}},
		{"teamspace.update", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			id := c.space(c.who.MemberID, c.f.keysmith.MemberID)
			return c.e.do("PUT", "/v1/spaces/"+id, map[string]any{"name": c.uniq("renamed-space")}, c.cr)
		}},
		{"teamspace.delete", [5]roleWant{{204, 204}, {204, 204}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("DELETE", "/v1/spaces/"+c.space(c.who.MemberID), nil, c.cr)
		}},
		{"teamspace.add_member", [5]roleWant{{204, 204}, {204, 204}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			id := c.space(c.who.MemberID)
			return c.e.do("POST", "/v1/spaces/"+id+"/members", map[string]any{"member_ids": []string{c.f.keysmith.MemberID}}, c.cr)
		}},
		{"teamspace.remove_member", [5]roleWant{{204, 204}, {204, 204}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			id := c.space(c.who.MemberID, c.f.keysmith.MemberID)
			return c.e.do("DELETE", "/v1/spaces/"+id+"/members/"+c.f.keysmith.MemberID, nil, c.cr)
		}},
		{"event.list", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/events", nil, c.cr)
		}},
		{"system.storage", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1/system/storage", nil, c.cr)
		}},
		{"package.create", [5]roleWant{{201, 201}, {201, 201}, {201, 201}, {201, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/packages"), map[string]any{"name": c.uniq("package")}, c.cr)
		}},
		{"package.list", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {200, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/packages?status[]=new", nil, c.cr)
		}},
		// Anyone who may create packages reads their own (with the token);
		// guests cannot create one, so the create's 403 is their answer.
		{"package.get_own", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {403, noKey}}, func(c *roleCell) resp {
			r := c.e.do("POST", c.team("/packages"), map[string]any{"name": c.uniq("own-package")}, c.cr)
			if r.Status != 201 {
				return r
			}
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/packages/"+r.Map(c.e.t)["id"].(string), nil, c.cr)
		}},
		{"package.get_others", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			r := c.e.must(201, "POST", c.team("/packages"), map[string]any{"name": c.uniq("keysmith-package")}, userToken(c.f.keysmith.Token))
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/packages/"+r.Map(c.e.t)["id"].(string), nil, c.cr)
		}},
		// Links are made with the package token of a package one can
		// read: one's own (guests create none, so the create's 403 is
		// theirs) or, for owner and admins, anyone's.
		{"link.create_own", [5]roleWant{{201, 201}, {201, 201}, {201, 201}, {201, noKey}, {403, noKey}}, func(c *roleCell) resp {
			r := c.e.do("POST", c.team("/packages"), map[string]any{"name": c.uniq("own-package")}, c.cr)
			if r.Status != 201 {
				return r
			}
			m := r.Map(c.e.t)
			return c.e.do("POST", "/v1/packages/"+m["id"].(string)+"/links", map[string]any{}, header("X-Package-Token", m["access_token"].(string)))
		}},
		{"link.create_others", [5]roleWant{{201, 201}, {201, 201}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			r := c.e.must(201, "POST", c.team("/packages"), map[string]any{"name": c.uniq("keysmith-package")}, userToken(c.f.keysmith.Token))
			g := c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/packages/"+r.Map(c.e.t)["id"].(string), nil, c.cr)
			if g.Status != 200 {
				return g
			}
			m := g.Map(c.e.t)
			return c.e.do("POST", "/v1/packages/"+m["id"].(string)+"/links", map[string]any{}, header("X-Package-Token", m["access_token"].(string)))
		}},
		{"activity.list", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/activities?activity_types[]=package_upload_to_masv", nil, c.cr)
		}},
		{"activity.get", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			c.e.must(201, "POST", c.team("/packages"), map[string]any{"name": c.uniq("keysmith-package")}, userToken(c.f.keysmith.Token))
			var l struct {
				Records []struct{ ID string } `json:"records"`
			}
			c.e.must(200, "GET", "/v1.1/teams/"+c.e.TeamID+"/activities?limit=1", nil, c.ownerTok()).JSON(c.e.t, &l)
			return c.e.do("GET", c.team("/activities/"+l.Records[0].ID+"/events"), nil, c.cr)
		}},
		{"portal.create", [5]roleWant{{201, 201}, {201, 201}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/portals"), map[string]any{"name": "Drop", "subdomain": strings.ToLower(c.uniq("drop"))}, c.cr)
		}},
		{"portal.list", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/portals", nil, c.cr)
		}},
		{"portal.update_form", [5]roleWant{{201, 201}, {201, 201}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			pt := c.e.must(201, "POST", c.team("/portals"), map[string]any{"name": "Formed", "subdomain": strings.ToLower(c.uniq("form"))}, c.ownerTok()).Map(c.e.t)
			return c.e.do("POST", "/v1/portals/"+pt["id"].(string)+"/form", map[string]any{"name": "F"}, c.cr)
		}},
		// The inbox is for everyone; what each sees is the package rule's.
		{"inbox.list", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {200, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1.1/teams/"+c.e.TeamID+"/inbox", nil, c.cr)
		}},
		{"webhook.create", [5]roleWant{{201, 201}, {201, 201}, {201, 201}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("POST", c.team("/custom_webhooks"), map[string]any{"name": c.uniq("hook"), "url": "http://127.0.0.1:9/in", "events": []string{"package.expired"}}, c.cr)
		}},
		{"webhook.list", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team("/custom_webhooks"), nil, c.cr)
		}},
		{"mail_deliveries.list", [5]roleWant{{200, 200}, {200, 200}, {403, 403}, {403, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team("/mail_deliveries"), nil, c.cr)
		}},
		{"team.block_key", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {403, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", c.team("/block_key"), nil, c.cr)
		}},
		{"profile.get", [5]roleWant{{200, 200}, {200, 200}, {200, 200}, {200, noKey}, {200, noKey}}, func(c *roleCell) resp {
			return c.e.do("GET", "/v1/users/me", nil, c.cr)
		}},
		{"profile.update", [5]roleWant{{200, 403}, {200, 403}, {200, 403}, {200, noKey}, {200, noKey}}, func(c *roleCell) resp {
			return c.e.do("PUT", "/v1/users/me", map[string]string{"name": c.uniq("Renamed")}, c.cr)
		}},
		{"password.change", [5]roleWant{{204, 403}, {204, 403}, {204, 403}, {204, noKey}, {204, noKey}}, func(c *roleCell) resp {
			next := c.who.Password + "-x"
			r := c.e.do("PUT", "/v1/users/me/password", map[string]string{"current_password": c.who.Password, "new_password": next}, c.cr)
			if r.Status == 204 {
				c.who.Password = next
			}
			return r
		}},
	}
}

// clip shortens a response body for an error message.
func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// generousLimits lifts the login rate limits: the matrix accepts many
// invitations from one address.
func generousLimits(o *envOptions) {
	o.auth.LoginIPBurst, o.auth.LoginIPPerMinute = 10000, 10000
	o.auth.LoginAccountBurst, o.auth.LoginAccountPerMinute = 10000, 10000
}

func TestRoleMatrix(t *testing.T) {
	e := newEnv(t, generousLimits)
	f := &roleFixture{owner: e.owner(), people: map[core.Role]*person{}, spare: map[core.Role][]string{}}
	f.people[core.RoleOwner] = f.owner
	f.people[core.RoleAdmin] = e.addPerson(f.owner.Token, "admin@studio.example", core.RoleAdmin)
	f.people[core.RoleIntegrationManager] = e.addPerson(f.owner.Token, "integrator@studio.example", core.RoleIntegrationManager)
	f.keysmith = e.addPerson(f.owner.Token, "keysmith@studio.example", core.RoleIntegrationManager)
	// Members and guests start as integration managers, make two keys of
	// their own, then are demoted: "own key" cells then have a real key.
	for _, role := range []core.Role{core.RoleMember, core.RoleGuest} {
		p := e.addPerson(f.owner.Token, string(role)+"@studio.example", core.RoleIntegrationManager)
		for i := 0; i < 2; i++ {
			r := e.must(201, "POST", "/v1/teams/"+e.TeamID+"/api_keys", map[string]string{"name": fmt.Sprintf("spare %d", i), "state": "active"}, userToken(p.Token))
			f.spare[role] = append(f.spare[role], r.Map(t)["id"].(string))
		}
		e.must(200, "PUT", "/v1/teams/"+e.TeamID+"/members/"+p.MemberID, map[string]string{"role": string(role)}, userToken(f.owner.Token))
		p.Role, p.APIKey = role, "" // the matrix drives members and guests by token only
		f.people[role] = p
	}

	rows := matrixRows()
	got := make([][5]roleWant, len(rows))
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			for j, role := range matrixRoles {
				who := f.people[role]
				t.Run(string(role), func(t *testing.T) {
					se := *e
					se.t = t
					type try struct {
						name string
						cr   cred
						want int
						got  *int
					}
					creds := []try{{"user_token", userToken(who.Token), row.want[j].tok, &got[i][j].tok}}
					if who.APIKey != "" {
						creds = append(creds, try{"api_key", apiKey(who.APIKey), row.want[j].key, &got[i][j].key})
					} else if row.want[j].key != noKey {
						t.Errorf("the matrix expects %d with an API key, but %s has none", row.want[j].key, role)
					}
					for _, k := range creds {
						t.Run(k.name, func(t *testing.T) {
							se.t = t
							r := row.do(&roleCell{e: &se, f: f, who: who, cr: k.cr})
							*k.got = r.Status
							if r.Status != k.want {
								t.Errorf("%s as %s with %s: status %d, want %d: %s", row.name, role, k.name, r.Status, k.want, clip(r.Body))
							}
						})
					}
				})
			}
		})
	}
	if t.Failed() {
		var b strings.Builder
		b.WriteString("actual matrix (owner, admin, integration_manager, member, guest; token/key):\n")
		for i, row := range rows {
			fmt.Fprintf(&b, "%-28s", row.name)
			for _, w := range got[i] {
				key := "-"
				if w.key != noKey {
					key = fmt.Sprint(w.key)
				}
				fmt.Fprintf(&b, " %3d/%-3s", w.tok, key)
			}
			b.WriteString("\n")
		}
		t.Log(b.String())
	}
}

// TestRoleScoping checks what the matrix cannot: forbidden is told apart
// from hidden, teams are hidden from non-members, and an API key acts only
// in its own team and with its user's current role.
func TestRoleScoping(t *testing.T) {
	e := newEnv(t, generousLimits)
	ctx := context.Background()
	o := e.owner()
	a := e.TeamID
	member := e.addPerson(o.Token, "member@studio.example", core.RoleMember)
	guest := e.addPerson(o.Token, "guest@studio.example", core.RoleGuest)
	admin := e.addPerson(o.Token, "admin@studio.example", core.RoleAdmin)
	space := e.must(201, "POST", "/v1/teams/"+a+"/spaces", map[string]any{"name": "Studio space", "member_ids": []string{member.MemberID, guest.MemberID}}, userToken(o.Token)).Map(t)["id"].(string)
	ownerKeyID := e.must(201, "POST", "/v1/teams/"+a+"/api_keys", map[string]string{"name": "scoping"}, userToken(o.Token)).Map(t)["id"].(string)

	// Team B belongs to an outsider who is not in team A.
	const outsiderEmail, outsiderPassword = "outsider@elsewhere.example", "outsider-password-1"
	b, err := e.Svc.CreateTeam(ctx, core.BootstrapRequest{TeamName: "Elsewhere", OwnerEmail: outsiderEmail, OwnerPassword: outsiderPassword})
	if err != nil {
		t.Fatal(err)
	}
	outsiderTok := e.login(outsiderEmail, outsiderPassword)
	outsiderKey := e.must(201, "POST", "/v1/teams/"+b.TeamID+"/api_keys", map[string]string{"name": "b key", "state": "active"}, userToken(outsiderTok)).Map(t)["key"].(string)
	spaceB := e.must(201, "POST", "/v1/teams/"+b.TeamID+"/spaces", map[string]any{"name": "B space"}, userToken(outsiderTok)).Map(t)["id"].(string)

	// teamRoutes are routes of team a (or of its objects), each with a body.
	type req struct {
		method, path string
		body         any
	}
	teamRoutes := func(team, spaceID, keyID, memberID string) []req {
		return []req{
			{"GET", "/v1/teams/" + team, nil},
			{"PUT", "/v1/teams/" + team, map[string]any{"name": "Taken"}},
			{"POST", "/v1/teams/" + team + "/transfer_ownership", map[string]string{"member_id": memberID}},
			{"GET", "/v1/teams/" + team + "/members", nil},
			{"POST", "/v1/teams/" + team + "/members", map[string]string{"email": "intruder@elsewhere.example", "role": "admin"}},
			{"PUT", "/v1/teams/" + team + "/members/" + memberID, map[string]string{"role": "guest"}},
			{"DELETE", "/v1/teams/" + team + "/members/" + memberID, nil},
			{"GET", "/v1.1/teams/" + team + "/events", nil},
			{"POST", "/v1/teams/" + team + "/api_keys", map[string]string{"name": "intruder", "state": "active"}},
			{"GET", "/v1/teams/" + team + "/api_keys", nil},
			{"PUT", "/v1/api_keys/" + keyID, map[string]string{"state": "inactive"}},
			{"DELETE", "/v1/api_keys/" + keyID, nil},
			{"POST", "/v1/teams/" + team + "/spaces", map[string]any{"name": "intruder space"}},
			{"GET", "/v1.1/teams/" + team + "/spaces", nil},
			{"GET", "/v1/spaces/" + spaceID, nil},
			{"PUT", "/v1/spaces/" + spaceID, map[string]any{"name": "taken space"}},
			{"POST", "/v1/spaces/" + spaceID + "/members", map[string]any{"member_ids": []string{memberID}}},
			{"DELETE", "/v1/spaces/" + spaceID + "/members/" + memberID, nil},
			{"DELETE", "/v1/spaces/" + spaceID, nil},
		}
	}
	errType := func(t *testing.T, r resp) string {
		t.Helper()
		var body struct{ Errors []struct{ Type string } }
		r.JSON(t, &body)
		if len(body.Errors) != 1 {
			t.Fatalf("not a MASV error body: %s", r.Body)
		}
		return body.Errors[0].Type
	}

	t.Run("own team forbidden not hidden", func(t *testing.T) {
		se := *e
		se.t = t
		forbidden := []req{
			{"PUT", "/v1/teams/" + a, map[string]any{"name": "Taken"}},
			{"POST", "/v1/teams/" + a + "/transfer_ownership", map[string]string{"member_id": admin.MemberID}},
			{"POST", "/v1/teams/" + a + "/members", map[string]string{"email": "friend@studio.example", "role": "admin"}},
			{"PUT", "/v1/teams/" + a + "/members/" + admin.MemberID, map[string]string{"role": "guest"}},
			{"DELETE", "/v1/teams/" + a + "/members/" + admin.MemberID, nil},
			{"GET", "/v1.1/teams/" + a + "/events", nil},
			{"POST", "/v1/teams/" + a + "/api_keys", map[string]string{"name": "mine", "state": "active"}},
			{"GET", "/v1/teams/" + a + "/api_keys", nil},
			{"POST", "/v1/teams/" + a + "/spaces", map[string]any{"name": "mine"}},
			{"PUT", "/v1/spaces/" + space, map[string]any{"name": "mine"}},
			{"DELETE", "/v1/spaces/" + space, nil},
		}
		for _, p := range []*person{member, guest} {
			rs := forbidden
			if p == guest { // guests also may not look at members or teamspaces
				rs = append(rs[:len(rs):len(rs)],
					req{"GET", "/v1/teams/" + a + "/members", nil},
					req{"GET", "/v1.1/teams/" + a + "/spaces", nil},
					req{"GET", "/v1/spaces/" + space, nil})
			}
			for _, q := range rs {
				r := se.do(q.method, q.path, q.body, userToken(p.Token))
				if r.Status != 403 || errType(t, r) != "forbidden" {
					t.Errorf("%s: %s %s: status %d, want 403 forbidden: %s", p.Role, q.method, q.path, r.Status, clip(r.Body))
				}
			}
			se.must(200, "GET", "/v1/teams/"+a, nil, userToken(p.Token))
		}
	})

	t.Run("non-member gets 404", func(t *testing.T) {
		se := *e
		se.t = t
		check := func(what string) {
			t.Helper()
			for _, q := range teamRoutes(a, space, ownerKeyID, admin.MemberID) {
				r := se.do(q.method, q.path, q.body, userToken(outsiderTok))
				if r.Status != 404 || errType(t, r) != "not_found" {
					t.Errorf("%s: %s %s: status %d, want 404: %s", what, q.method, q.path, r.Status, clip(r.Body))
				}
			}
			var teams []map[string]any
			se.must(200, "GET", "/v1/teams", nil, userToken(outsiderTok)).JSON(t, &teams)
			if len(teams) != 1 || teams[0]["id"] != b.TeamID {
				t.Errorf("%s: outsider's teams = %v, want only %s", what, teams, b.TeamID)
			}
		}
		check("outsider")
		// An invitation not yet accepted is no membership either.
		se.must(201, "POST", "/v1/teams/"+a+"/members", map[string]string{"email": outsiderEmail, "role": "admin"}, userToken(o.Token))
		check("invited, not accepted")
		// Nothing changed in team a.
		if n := se.must(200, "GET", "/v1/teams/"+a, nil, userToken(o.Token)).Map(t)["name"]; n != "Studio" {
			t.Errorf("team a renamed to %v", n)
		}
		se.must(200, "GET", "/v1/spaces/"+space, nil, userToken(o.Token))
		se.must(200, "PUT", "/v1/api_keys/"+ownerKeyID, map[string]string{"name": "still here"}, userToken(o.Token))
	})

	t.Run("API key of another team forbidden", func(t *testing.T) {
		se := *e
		se.t = t
		// Team C is owned by team a's owner too: their team-a key still
		// may not act in it, though their token may.
		c, err := e.Svc.CreateTeam(ctx, core.BootstrapRequest{TeamName: "Second Studio", OwnerEmail: ownerEmail})
		if err != nil {
			t.Fatal(err)
		}
		spaceC := se.must(201, "POST", "/v1/teams/"+c.TeamID+"/spaces", map[string]any{"name": "C space"}, userToken(o.Token)).Map(t)["id"].(string)
		se.must(200, "GET", "/v1/teams/"+c.TeamID, nil, userToken(o.Token))
		se.must(200, "GET", "/v1/teams/"+c.TeamID+"/members", nil, userToken(o.Token))
		for _, k := range []struct {
			name, key, team, space string
		}{
			{"team a owner's key on team c (same user owns c)", o.APIKey, c.TeamID, spaceC},
			{"team a owner's key on team b (user not in b)", o.APIKey, b.TeamID, spaceB},
			{"team a admin's key on team b", admin.APIKey, b.TeamID, spaceB},
			{"team b owner's key on team a", outsiderKey, a, space},
		} {
			for _, q := range teamRoutes(k.team, k.space, "01ARZ3NDEKTSV4RRFFQ69G5FAW", "01ARZ3NDEKTSV4RRFFQ69G5FAV") {
				if strings.HasPrefix(q.path, "/v1/api_keys/") {
					continue // key routes refuse every API key; the matrix covers them
				}
				r := se.do(q.method, q.path, q.body, apiKey(k.key))
				if r.Status != 403 {
					t.Errorf("%s: %s %s: status %d, want 403: %s", k.name, q.method, q.path, r.Status, clip(r.Body))
				}
			}
		}
		// The keys still work at home.
		se.must(200, "GET", "/v1/teams/"+a+"/members", nil, apiKey(o.APIKey))
		se.must(200, "GET", "/v1/teams/"+b.TeamID+"/members", nil, apiKey(outsiderKey))
	})

	t.Run("nobody changes their own role or the owner's", func(t *testing.T) {
		se := *e
		se.t = t
		for _, q := range []struct {
			who          *person
			method, path string
			body         any
		}{
			{admin, "PUT", "/v1/teams/" + a + "/members/" + admin.MemberID, map[string]string{"role": "member"}},
			{admin, "DELETE", "/v1/teams/" + a + "/members/" + admin.MemberID, nil},
			{admin, "PUT", "/v1/teams/" + a + "/members/" + o.MemberID, map[string]string{"role": "member"}},
			{admin, "DELETE", "/v1/teams/" + a + "/members/" + o.MemberID, nil},
			{o, "PUT", "/v1/teams/" + a + "/members/" + o.MemberID, map[string]string{"role": "admin"}},
			{o, "DELETE", "/v1/teams/" + a + "/members/" + o.MemberID, nil},
		} {
			for _, cr := range []cred{userToken(q.who.Token), apiKey(q.who.APIKey)} {
				if r := se.do(q.method, q.path, q.body, cr); r.Status != 403 {
					t.Errorf("%s %s %s with %s: status %d, want 403: %s", q.who.Role, q.method, q.path, cr.header, r.Status, clip(r.Body))
				}
			}
		}
	})

	t.Run("API key follows its user's role", func(t *testing.T) {
		se := *e
		se.t = t
		im := joinTeam(&se, o.Token, a, "integrator@studio.example", core.RoleIntegrationManager)
		key := se.must(201, "POST", "/v1/teams/"+a+"/api_keys", map[string]string{"name": "im key", "state": "active"}, userToken(im.Token)).Map(t)["key"].(string)
		se.must(200, "GET", "/v1/teams/"+a+"/members", nil, apiKey(key))
		se.must(200, "PUT", "/v1/teams/"+a+"/members/"+im.MemberID, map[string]string{"role": "guest"}, userToken(o.Token))
		se.must(403, "GET", "/v1/teams/"+a+"/members", nil, apiKey(key))
		se.must(200, "GET", "/v1/teams/"+a, nil, apiKey(key))
		se.must(200, "PUT", "/v1/teams/"+a+"/members/"+im.MemberID, map[string]string{"role": "admin"}, userToken(o.Token))
		se.must(200, "PUT", "/v1/teams/"+a, map[string]any{"max_email_recipients": 40}, apiKey(key))
		se.must(204, "DELETE", "/v1/teams/"+a+"/members/"+im.MemberID, nil, userToken(o.Token))
		se.must(401, "GET", "/v1/teams/"+a, nil, apiKey(key))
	})
}
