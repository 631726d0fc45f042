package httpd

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// CreatePackageRequest is the body of POST /v1/teams/{id}/packages.
type CreatePackageRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Recipients  []string `json:"recipients"`
	Password    string   `json:"password"`
	AccessLimit *int     `json:"access_limit"`
	Expiry      Time     `json:"expiry"`
	TeamspaceID string   `json:"teamspace_id"`
}

// PackageResponse is MASV's package object. AccessToken is present only
// for callers allowed to manage the package.
type PackageResponse struct {
	ID               string            `json:"id"`
	TeamID           string            `json:"team_id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Sender           string            `json:"sender"`
	Recipients       []string          `json:"recipients"`
	AccessToken      string            `json:"access_token,omitempty"`
	State            core.PackageState `json:"state"`
	CreatedAt        Time              `json:"created_at"`
	UpdatedAt        Time              `json:"updated_at"`
	FinalizedAt      Time              `json:"finalized_at"`
	Size             int64             `json:"size"`
	UsageTotalBytes  int64             `json:"usage_total_bytes"`
	TotalFiles       int               `json:"total_files"`
	Expiry           Time              `json:"expiry"`
	CustomExpiry     bool              `json:"custom_expiry"`
	UnlimitedStorage bool              `json:"unlimited_storage"`
	ExtraStorageDays int               `json:"extra_storage_days"`
	AccessLimit      int               `json:"access_limit"`
	HasPassword      bool              `json:"has_password"`
	Links            []any             `json:"links"`
	Extras           map[string]any    `json:"extras"`
	ContainsVirus    bool              `json:"contains_virus"`
	ProgressChannels []string          `json:"progress_channels"`
	TeamspaceID      string            `json:"teamspace_id"`
	Tags             []string          `json:"tags"`
	// PortalID names the portal a received package came through; its
	// form response is FormDataID; CCRecipients hear of it without a link.
	PortalID     string   `json:"portal_id,omitempty"`
	FormDataID   string   `json:"form_data_id,omitempty"`
	CCRecipients []string `json:"cc_recipients,omitempty"`
}

func packageView(v *core.PackageView) PackageResponse {
	pk := &v.Package
	rec := pk.Recipients
	if rec == nil {
		rec = []string{}
	}
	return PackageResponse{ID: pk.ID, TeamID: pk.TeamID, Name: pk.Name, Description: pk.Description, Sender: pk.Sender,
		Recipients: rec, AccessToken: v.AccessToken, State: pk.State, CreatedAt: Time(pk.CreatedAt), UpdatedAt: Time(pk.UpdatedAt),
		FinalizedAt: Time(pk.FinalizedAt), Size: pk.Size, UsageTotalBytes: pk.Size, TotalFiles: pk.TotalFiles,
		Expiry: Time(pk.Expiry), CustomExpiry: pk.CustomExpiry, AccessLimit: pk.AccessLimit, HasPassword: pk.PasswordHash != "",
		Links: []any{}, Extras: map[string]any{}, ProgressChannels: []string{}, TeamspaceID: pk.TeamspaceID, Tags: []string{},
		PortalID: pk.PortalID, FormDataID: pk.FormDataID, CCRecipients: pk.CCRecipients}
}

func (s *Server) createPackage(c *fiber.Ctx, p *core.Principal) error {
	var req CreatePackageRequest
	if err := decode(c, "package.create", &req); err != nil {
		return err
	}
	v, err := s.svc.CreatePackage(c.UserContext(), p, param(c, "team_id"), core.CreatePackageRequest{
		Name: req.Name, Description: req.Description, Recipients: req.Recipients, Password: req.Password,
		AccessLimit: req.AccessLimit, Expiry: timeOf(req.Expiry), TeamspaceID: req.TeamspaceID})
	if err != nil {
		return err
	}
	return created(c, packageView(v))
}

// packageStates reads MASV's status[] filter (also status, repeated or
// comma separated).
func packageStates(c *fiber.Ctx) []core.PackageState {
	var out []core.PackageState
	args := c.Context().QueryArgs()
	for _, name := range []string{"status[]", "status"} {
		for _, v := range args.PeekMulti(name) {
			for _, s := range strings.Split(string(v), ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, core.PackageState(s))
				}
			}
		}
	}
	return out
}

func (s *Server) listPackages(c *fiber.Ctx, p *core.Principal) error {
	return s.packageList(c, p, "package.list", s.svc.Packages)
}

// packageList serves a v1.1 package list (the team's packages, or the
// inbox) with MASV's filters: status[], name, sender, teamspaces[],
// portal, created_at_start/end, expiry_start/end, paging and sort.
func (s *Server) packageList(c *fiber.Ctx, p *core.Principal, op string,
	fetch func(context.Context, *core.Principal, string, core.PackageQuery) ([]core.PackageView, int, error)) error {
	pg, page, err := listQuery(c, op)
	if err != nil {
		return err
	}
	q := core.PackageQuery{States: packageStates(c), Page: pg, Name: c.Query("name"), Sender: c.Query("sender"),
		Teamspaces: queryList(c, "teamspaces"), Portal: c.Query("portal")}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"created_at_start", &q.CreatedAtStart}, {"created_at_end", &q.CreatedAtEnd}, {"expiry_start", &q.ExpiryStart}, {"expiry_end", &q.ExpiryEnd}} {
		if v := c.Query(tf.name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return core.Invalidf(op, tf.name, "%s: %v", tf.name, err)
			}
			*tf.dst = t
		}
	}
	vs, total, err := fetch(c.UserContext(), p, param(c, "team_id"), q)
	if err != nil {
		return err
	}
	out := make([]PackageResponse, 0, len(vs))
	for i := range vs {
		out = append(out, packageView(&vs[i]))
	}
	return c.JSON(list(out, total, page, pg.Limit))
}

// listPackagesLegacy is MASV's v1 list: boolean filters expired and
// finalized (default true), new and archived (default false); a bare array.
func (s *Server) listPackagesLegacy(c *fiber.Ctx, p *core.Principal) error {
	var states []core.PackageState
	for _, f := range []struct {
		name string
		def  bool
	}{{"new", false}, {"finalized", true}, {"expired", true}, {"archived", false}} {
		if c.QueryBool(f.name, f.def) {
			states = append(states, core.PackageState(f.name))
		}
	}
	if len(states) == 0 {
		return c.JSON([]PackageResponse{})
	}
	vs, _, err := s.svc.Packages(c.UserContext(), p, param(c, "team_id"), core.PackageQuery{States: states})
	if err != nil {
		return err
	}
	out := make([]PackageResponse, 0, len(vs))
	for i := range vs {
		out = append(out, packageView(&vs[i]))
	}
	return c.JSON(out)
}

func (s *Server) getPackage(c *fiber.Ctx, p *core.Principal) error {
	v, err := s.svc.GetPackage(c.UserContext(), p, param(c, "team_id"), param(c, "package_id"))
	if err != nil {
		return err
	}
	return c.JSON(packageView(v))
}

// packageAuth reads a package-token route's credential.
func packageAuth(c *fiber.Ctx) core.PackageAuth {
	return core.PackageAuth{Token: c.Get("X-Package-Token"),
		OtherCredential: c.Get("X-API-KEY") != "" || c.Get("X-User-Token") != ""}
}

func (s *Server) deletePackage(c *fiber.Ctx) error {
	if err := s.svc.DeletePackage(c.UserContext(), packageAuth(c), param(c, "package_id")); err != nil {
		return err
	}
	return noContent(c)
}

func (s *Server) finalizePackage(c *fiber.Ctx) error {
	var ignored struct{}
	if err := decode(c, "package.finalize", &ignored); err != nil {
		return err
	}
	v, err := s.svc.FinalizePackage(c.UserContext(), packageAuth(c), param(c, "package_id"))
	if err != nil {
		return err
	}
	return c.JSON(packageView(v))
}

// UpdatePackageRequest is the body of PUT /v1/packages/{id}.
type UpdatePackageRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (s *Server) updatePackage(c *fiber.Ctx) error {
	var req UpdatePackageRequest
	if err := decode(c, "package.update", &req); err != nil {
		return err
	}
	v, err := s.svc.UpdatePackage(c.UserContext(), packageAuth(c), param(c, "package_id"), core.PackageUpdate(req))
	if err != nil {
		return err
	}
	return c.JSON(packageView(v))
}

// ExpiryRequest is the body of PUT /v1/packages/{id}/expiry (MASV's).
type ExpiryRequest struct {
	UnlimitedStorage bool `json:"unlimited_storage"`
	Expiry           Time `json:"expiry"`
}

func (s *Server) setPackageExpiry(c *fiber.Ctx) error {
	var req ExpiryRequest
	if err := decode(c, "package.expiry", &req); err != nil {
		return err
	}
	v, err := s.svc.SetPackageExpiry(c.UserContext(), packageAuth(c), param(c, "package_id"), timeOf(req.Expiry), req.UnlimitedStorage)
	if err != nil {
		return err
	}
	return c.JSON(packageView(v))
}

// queryList reads a list query parameter given as name[]=a&name[]=b,
// name=a&name=b or name=a,b.
func queryList(c *fiber.Ctx, name string) []string {
	var out []string
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if key := string(k); key == name || key == name+"[]" {
			for _, part := range strings.Split(string(v), ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
	})
	return out
}
