package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// TeamRef is a team as listed at login.
type TeamRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Subdomain string `json:"subdomain"`
}

// User is the user object of a login.
type User struct {
	Email    string `json:"email"`
	ID       string `json:"id"`
	Level    string `json:"level"`
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
}

// Login is the answer of POST /v1/auth.
type Login struct {
	Teams []TeamRef `json:"teams"`
	Token string    `json:"token"`
	User  User      `json:"user"`
}

// Login authenticates with email and password and keeps the user token
// for later calls.
func (c *Client) Login(ctx context.Context, email, password string) (*Login, error) {
	var out Login
	if err := c.do(ctx, "POST", "/v1/auth", nil, map[string]string{"email": email, "password": password}, &out); err != nil {
		return nil, err
	}
	c.UserToken = out.Token
	return &out, nil
}

// Logout ends the user token's session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, "POST", "/v1/auth/logout", nil, nil, nil)
}

// Team is MASV's team object.
type Team struct {
	ID                   string    `json:"id"`
	Name                 string    `json:"name"`
	Subdomain            string    `json:"subdomain"`
	CustomExpiryEnabled  bool      `json:"custom_expiry_enabled"`
	CustomExpiryDefault  int       `json:"custom_expiry_default"`
	DownloadLimitEnabled bool      `json:"download_limit_enabled"`
	DownloadLimitDefault int       `json:"download_limit_default"`
	MaxEmailRecipients   int       `json:"max_email_recipients"`
	CreatedAt            time.Time `json:"created_at"`
}

// Teams lists the caller's teams.
func (c *Client) Teams(ctx context.Context) ([]Team, error) {
	var out []Team
	return out, c.do(ctx, "GET", "/v1/teams", nil, nil, &out)
}

// Member is MASV's membership object.
type Member struct {
	ID                 string `json:"id"`
	UserID             string `json:"user_id"`
	TeamID             string `json:"team_id"`
	Email              string `json:"email"`
	Name               string `json:"name"`
	PolicyKey          string `json:"policy_key"`
	InvitationAccepted bool   `json:"invitation_accepted"`
	InvitationURL      string `json:"invitation_url,omitempty"`
}

// Members lists a team's members.
func (c *Client) Members(ctx context.Context, teamID string) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, "GET", "/v1/teams/"+url.PathEscape(teamID)+"/members", nil, nil, &out)
}

// AddMember invites email into the team with role; the answer carries the
// invitation link.
func (c *Client) AddMember(ctx context.Context, teamID, email, role string) (*Member, error) {
	var out Member
	return &out, c.do(ctx, "POST", "/v1/teams/"+url.PathEscape(teamID)+"/members", nil,
		map[string]string{"email": email, "role": role}, &out)
}

// APIKey is an API key; Key is set only in the answer to its creation.
type APIKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	State       string    `json:"state"`
	Expiry      time.Time `json:"expiry"`
	LastUsedAt  time.Time `json:"last_used_at"`
	Key         string    `json:"key,omitempty"`
}

// CreateAPIKey makes a key (needs a user token). A zero expiry never expires.
func (c *Client) CreateAPIKey(ctx context.Context, teamID, name string, expiry time.Time) (*APIKey, error) {
	in := map[string]any{"name": name, "state": "active"}
	if !expiry.IsZero() {
		in["expiry"] = expiry.UTC().Format(time.RFC3339Nano)
	}
	var out APIKey
	return &out, c.do(ctx, "POST", "/v1/teams/"+url.PathEscape(teamID)+"/api_keys", nil, in, &out)
}

// APIKeys lists the keys the caller may manage.
func (c *Client) APIKeys(ctx context.Context, teamID string) ([]APIKey, error) {
	var out []APIKey
	return out, c.do(ctx, "GET", "/v1/teams/"+url.PathEscape(teamID)+"/api_keys", nil, nil, &out)
}

// DeleteAPIKey deletes a key.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/api_keys/"+url.PathEscape(id), nil, nil, nil)
}

// Teamspace is MASV's teamspace object.
type Teamspace struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Members []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		UserID string `json:"user_id"`
	} `json:"members"`
}

// CreateTeamspace makes a teamspace with the given member ids.
func (c *Client) CreateTeamspace(ctx context.Context, teamID, name string, memberIDs []string) (*Teamspace, error) {
	var out Teamspace
	return &out, c.do(ctx, "POST", "/v1/teams/"+url.PathEscape(teamID)+"/spaces", nil,
		map[string]any{"name": name, "member_ids": memberIDs}, &out)
}

// Teamspaces lists every teamspace the caller sees, paging through the
// v1.1 list until its total.
func (c *Client) Teamspaces(ctx context.Context, teamID string) ([]Teamspace, error) {
	var all []Teamspace
	for page := 1; ; page++ {
		var out struct {
			Metadata struct{ Total int } `json:"metadata"`
			Records  []Teamspace         `json:"records"`
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {"100"}}
		if err := c.do(ctx, "GET", "/v1.1/teams/"+url.PathEscape(teamID)+"/spaces", q, nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Records...)
		if len(out.Records) == 0 || len(all) >= out.Metadata.Total {
			return all, nil
		}
	}
}
