package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// PortalFace is what a portal shows outside senders (no secrets).
type PortalFace struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Subdomain        string `json:"subdomain"`
	AcceptingUploads bool   `json:"accepting_uploads"`
	Reason           string `json:"reason"`
	HasAccessCode    bool   `json:"has_access_code"`
	TermsEnabled     bool   `json:"terms_of_service_enabled"`
	Form             *struct {
		Fields []struct {
			Name       string   `json:"name"`
			Label      string   `json:"label"`
			Type       string   `json:"type"`
			Visibility string   `json:"visibility"`
			Options    []string `json:"options"`
		} `json:"fields"`
	} `json:"form"`
}

// PortalBySubdomain reads a portal's public face (no credential).
func (c *Client) PortalBySubdomain(ctx context.Context, subdomain string) (*PortalFace, error) {
	pc := *c
	pc.APIKey, pc.UserToken = "", ""
	var out PortalFace
	return &out, pc.do(ctx, "GET", "/v1/subdomains/portals/"+url.PathEscape(subdomain), nil, nil, &out)
}

// SubmitForm answers a portal's metadata form; the id goes into
// PortalPackageRequest.FormDataID.
func (c *Client) SubmitForm(ctx context.Context, portalID string, values map[string]any) (string, error) {
	pc := *c
	pc.APIKey, pc.UserToken = "", ""
	var out struct {
		ID string `json:"id"`
	}
	err := pc.do(ctx, "POST", "/v1/portals/"+url.PathEscape(portalID)+"/form/responses", nil, map[string]any{"values": values}, &out)
	return out.ID, err
}

// PortalPackageRequest is a package sent through a portal.
type PortalPackageRequest struct {
	Name          string `json:"name"`
	Sender        string `json:"sender"`
	Description   string `json:"description,omitempty"`
	AccessCode    string `json:"access_code,omitempty"`
	FormDataID    string `json:"form_data_id,omitempty"`
	TermsAccepted bool   `json:"terms_accepted,omitempty"`
}

// CreatePortalPackage starts a package through a portal; its AccessToken
// adds files, uploads and finalizes. The client's own credential is sent
// when set (portals that require sign-in).
func (c *Client) CreatePortalPackage(ctx context.Context, portalID string, req PortalPackageRequest) (*Package, error) {
	var out Package
	return &out, c.do(ctx, "POST", "/v1/portals/"+url.PathEscape(portalID)+"/packages", nil, req, &out)
}

// PortalRef is a portal as the team's list shows it.
type PortalRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Subdomain string `json:"subdomain"`
	Active    bool   `json:"active"`
}

// Portals lists the team's portals (owner and admins).
func (c *Client) Portals(ctx context.Context, teamID string) ([]PortalRef, error) {
	var out []PortalRef
	for page := 1; ; page++ {
		var l struct {
			Metadata struct {
				Total int `json:"total"`
			} `json:"metadata"`
			Records []PortalRef `json:"records"`
		}
		q := url.Values{"limit": {"100"}, "page": {strconv.Itoa(page)}}
		if err := c.do(ctx, "GET", "/v1.1/teams/"+url.PathEscape(teamID)+"/portals", q, nil, &l); err != nil {
			return nil, err
		}
		out = append(out, l.Records...)
		if len(l.Records) == 0 || len(out) >= l.Metadata.Total {
			return out, nil
		}
	}
}

// ReceivedPackage is a package of the team's inbox.
type ReceivedPackage struct {
	Package
	PortalID    string    `json:"portal_id"`
	FinalizedAt time.Time `json:"finalized_at"`
}

// Inbox lists the finalized packages the team received through portals
// (portalID "" for every portal) created at or after since, oldest
// first.
func (c *Client) Inbox(ctx context.Context, teamID, portalID string, since time.Time) ([]ReceivedPackage, error) {
	var out []ReceivedPackage
	seen := 0
	for page := 1; ; page++ {
		var l struct {
			Metadata struct {
				Total int `json:"total"`
			} `json:"metadata"`
			Records []ReceivedPackage `json:"records"`
		}
		// MASV's portal filter matches a portal's name; ids are matched here.
		q := url.Values{"status[]": {"finalized"}, "limit": {"100"}, "page": {strconv.Itoa(page)}, "sort": {"created_at"}}
		if !since.IsZero() {
			q.Set("created_at_start", since.UTC().Format(time.RFC3339Nano))
		}
		if err := c.do(ctx, "GET", "/v1.1/teams/"+url.PathEscape(teamID)+"/inbox", q, nil, &l); err != nil {
			return nil, err
		}
		for _, r := range l.Records {
			if portalID == "" || r.PortalID == portalID {
				out = append(out, r)
			}
		}
		seen += len(l.Records)
		if len(l.Records) == 0 || seen >= l.Metadata.Total {
			return out, nil
		}
	}
}

// TeamPackage reads one of the team's packages; for a caller allowed to
// manage it, AccessToken is a package token that lists and downloads.
func (c *Client) TeamPackage(ctx context.Context, teamID, packageID string) (*Package, error) {
	var out Package
	return &out, c.do(ctx, "GET", "/v1.1/teams/"+url.PathEscape(teamID)+"/packages/"+url.PathEscape(packageID), nil, nil, &out)
}
