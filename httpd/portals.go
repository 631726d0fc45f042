package httpd

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"haul/core"
	"haul/core/form"
)

// PortalRequest is a portal's settings as MASV sends them (create and
// update; fields left out stay as they are, or take their default).
type PortalRequest struct {
	Name                     *string              `json:"name"`
	Subdomain                *string              `json:"subdomain"`
	Message                  *string              `json:"message"`
	Active                   *bool                `json:"active"`
	HasAccessCode            *bool                `json:"has_access_code"`
	AccessCode               *string              `json:"access_code"`
	HasDownloadPassword      *bool                `json:"has_download_password"`
	DownloadPassword         *string              `json:"download_password"`
	AccessLevel              *string              `json:"access_level"`
	AccessList               *[]string            `json:"access_list"`
	TeamspaceID              *string              `json:"teamspace_id"`
	UserAuthRequired         *bool                `json:"user_authentication_required"`
	DownloadUserAuthRequired *bool                `json:"download_user_authentication_required"`
	ExpiryEnabled            *bool                `json:"expiry_enabled"`
	Expiry                   *Time                `json:"expiry"`
	Recipients               *[]string            `json:"recipients"`
	CCRecipients             *[]string            `json:"cc_recipients"`
	DisableUploadReceipt     *bool                `json:"disable_upload_receipt"`
	PrimaryColor             *string              `json:"primary_color"`
	LogoURL                  *string              `json:"logo_url"`
	BackgroundURL            *string              `json:"background_url"`
	CustomExpiryDays         *int                 `json:"custom_expiry_days"`
	FileTypesEnabled         *bool                `json:"file_type_restriction_enabled"`
	FileTypesExclude         *bool                `json:"file_type_restriction_exclude"`
	FileTypes                *[]string            `json:"file_types"`
	SizeRulesEnabled         *bool                `json:"package_size_restriction_enabled"`
	MaxFileCount             *int                 `json:"max_file_count"`
	MaxFileSize              *int64               `json:"max_file_size"`
	MaxPackageSize           *int64               `json:"max_package_size"`
	NameFormatEnabled        *bool                `json:"package_name_format_enabled"`
	NameFormat               *core.NameFormat     `json:"package_name_format"`
	TermsEnabled             *bool                `json:"terms_of_service_enabled"`
	Terms                    *core.TermsOfService `json:"terms_of_service"`
	CustomWebhooks           *[]string            `json:"custom_webhooks"`
}

func (r *PortalRequest) core(op string) (core.PortalRequest, error) {
	// Branding images are uploaded to haul (PUT /v1/portals/{id}/logo):
	// pages and mails load nothing from elsewhere.
	for _, u := range []struct {
		field string
		v     *string
	}{{"logo_url", r.LogoURL}, {"background_url", r.BackgroundURL}} {
		if u.v != nil && *u.v != "" && !strings.Contains(*u.v, "/v1/portals/") {
			return core.PortalRequest{}, core.Invalidf(op, u.field, "%s: haul serves branding itself so pages load nothing from elsewhere: upload the image with PUT /v1/portals/{portal_id}/%s", u.field, strings.TrimSuffix(u.field, "_url"))
		}
	}
	out := core.PortalRequest{Name: r.Name, Subdomain: r.Subdomain, Message: r.Message, Active: r.Active, HasAccessCode: r.HasAccessCode,
		AccessCode: r.AccessCode, HasDownloadPassword: r.HasDownloadPassword, DownloadPassword: r.DownloadPassword, AccessLevel: r.AccessLevel,
		AccessList: r.AccessList, TeamspaceID: r.TeamspaceID, UserAuthRequired: r.UserAuthRequired, DownloadUserAuthRequired: r.DownloadUserAuthRequired,
		ExpiryEnabled: r.ExpiryEnabled, Recipients: r.Recipients, CCRecipients: r.CCRecipients, DisableUploadReceipt: r.DisableUploadReceipt,
		PrimaryColor: r.PrimaryColor, CustomExpiryDays: r.CustomExpiryDays, FileTypesEnabled: r.FileTypesEnabled, FileTypesExclude: r.FileTypesExclude,
		FileTypes: r.FileTypes, SizeRulesEnabled: r.SizeRulesEnabled, MaxFileCount: r.MaxFileCount, MaxFileSize: r.MaxFileSize,
		MaxPackageSize: r.MaxPackageSize, NameFormatEnabled: r.NameFormatEnabled, NameFormat: r.NameFormat, TermsEnabled: r.TermsEnabled, Terms: r.Terms,
		CustomWebhooks: r.CustomWebhooks}
	if r.Expiry != nil {
		t := timeOf(*r.Expiry)
		out.Expiry = &t
	}
	return out, nil
}

// PortalResponse is MASV's portal object; secrets never appear, only
// whether they are set.
type PortalResponse struct {
	ID                       string              `json:"id"`
	TeamID                   string              `json:"team_id"`
	Name                     string              `json:"name"`
	Subdomain                string              `json:"subdomain"`
	URL                      string              `json:"url"`
	Message                  string              `json:"message"`
	Active                   bool                `json:"active"`
	HasAccessCode            bool                `json:"has_access_code"`
	HasDownloadPassword      bool                `json:"has_download_password"`
	AccessLevel              string              `json:"access_level"`
	AccessList               []string            `json:"access_list"`
	TeamspaceID              string              `json:"teamspace_id"`
	UserAuthRequired         bool                `json:"user_authentication_required"`
	DownloadUserAuthRequired bool                `json:"download_user_authentication_required"`
	ExpiryEnabled            bool                `json:"expiry_enabled"`
	Expiry                   *Time               `json:"expiry"`
	Recipients               []string            `json:"recipients"`
	CCRecipients             []string            `json:"cc_recipients"`
	DisableUploadReceipt     bool                `json:"disable_upload_receipt"`
	PrimaryColor             string              `json:"primary_color"`
	LogoURL                  string              `json:"logo_url"`
	BackgroundURL            string              `json:"background_url"`
	CustomExpiryDays         int                 `json:"custom_expiry_days"`
	FileTypesEnabled         bool                `json:"file_type_restriction_enabled"`
	FileTypesExclude         bool                `json:"file_type_restriction_exclude"`
	FileTypes                []string            `json:"file_types"`
	SizeRulesEnabled         bool                `json:"package_size_restriction_enabled"`
	MaxFileCount             int                 `json:"max_file_count"`
	MaxFileSize              int64               `json:"max_file_size"`
	MaxPackageSize           int64               `json:"max_package_size"`
	NameFormatEnabled        bool                `json:"package_name_format_enabled"`
	NameFormat               core.NameFormat     `json:"package_name_format"`
	TermsEnabled             bool                `json:"terms_of_service_enabled"`
	Terms                    core.TermsOfService `json:"terms_of_service"`
	FormID                   string              `json:"form_id"`
	CustomWebhooks           []string            `json:"custom_webhooks"`
	CreatedAt                Time                `json:"created_at"`
	UpdatedAt                Time                `json:"updated_at"`
}

func (s *Server) portalView(p *core.Portal) PortalResponse {
	out := PortalResponse{ID: p.ID, TeamID: p.TeamID, Name: p.Name, Subdomain: p.Subdomain, URL: s.portalURL(p.Subdomain), Message: p.Message,
		Active: p.Active, HasAccessCode: p.AccessCodeHash != "", HasDownloadPassword: p.DownloadPasswordHash != "", AccessLevel: p.AccessLevel,
		AccessList: nonNil(p.AccessList), TeamspaceID: p.TeamspaceID, UserAuthRequired: p.UserAuthRequired,
		DownloadUserAuthRequired: p.DownloadUserAuthRequired, ExpiryEnabled: p.ExpiryEnabled, Recipients: nonNil(p.Recipients),
		CCRecipients: nonNil(p.CCRecipients), DisableUploadReceipt: p.DisableUploadReceipt, PrimaryColor: p.PrimaryColor,
		CustomExpiryDays: p.CustomExpiryDays, FileTypesEnabled: p.FileTypesEnabled, FileTypesExclude: p.FileTypesExclude,
		FileTypes: nonNil(p.FileTypes), SizeRulesEnabled: p.SizeRulesEnabled, MaxFileCount: p.MaxFileCount, MaxFileSize: p.MaxFileSize,
		MaxPackageSize: p.MaxPackageSize, NameFormatEnabled: p.NameFormatEnabled, NameFormat: p.NameFormat, TermsEnabled: p.TermsEnabled,
		Terms: p.Terms, FormID: p.FormID, CustomWebhooks: nonNil(p.CustomWebhooks), CreatedAt: Time(p.CreatedAt), UpdatedAt: Time(p.UpdatedAt)}
	if !p.Expiry.IsZero() {
		t := Time(p.Expiry)
		out.Expiry = &t
	}
	out.LogoURL, out.BackgroundURL = s.assetURL(p, "logo", p.LogoAsset), s.assetURL(p, "background", p.BackgroundAsset)
	return out
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (s *Server) assetURL(p *core.Portal, which, asset string) string {
	if asset == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/v1/portals/" + p.ID + "/" + which + "?v=" + asset
}

// portalURL is a portal's page: <subdomain>.<portal domain>, with the
// public URL's scheme and port; "" without a portal domain.
func (s *Server) portalURL(sub string) string {
	if s.cfg.PortalDomain == "" {
		return ""
	}
	scheme, rest, _ := strings.Cut(s.cfg.PublicURL, "://")
	port := ""
	if host, _, _ := strings.Cut(rest, "/"); strings.Contains(host, ":") && !strings.HasSuffix(host, "]") {
		port = host[strings.LastIndex(host, ":"):]
	}
	return scheme + "://" + sub + "." + s.cfg.PortalDomain + port
}

func (s *Server) createPortal(c *fiber.Ctx, p *core.Principal) error {
	const op = "portal.create"
	var req PortalRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	r, err := req.core(op)
	if err != nil {
		return err
	}
	pt, err := s.svc.CreatePortal(c.UserContext(), p, param(c, "team_id"), r)
	if err != nil {
		return err
	}
	return created(c, s.portalView(pt))
}

func (s *Server) listPortals(c *fiber.Ctx, p *core.Principal) error {
	pg, page, err := listQuery(c, "portal.list")
	if err != nil {
		return err
	}
	ps, total, err := s.svc.Portals(c.UserContext(), p, param(c, "team_id"), core.PortalQuery{Page: pg, Name: c.Query("name"),
		Subdomain: c.Query("subdomain"), Teamspaces: queryList(c, "teamspaces")})
	if err != nil {
		return err
	}
	out := make([]PortalResponse, 0, len(ps))
	for _, pt := range ps {
		out = append(out, s.portalView(pt))
	}
	return c.JSON(list(out, total, page, pg.Limit))
}

func (s *Server) getPortal(c *fiber.Ctx, p *core.Principal) error {
	pt, err := s.svc.GetPortal(c.UserContext(), p, param(c, "portal_id"))
	if err != nil {
		return err
	}
	return c.JSON(s.portalView(pt))
}

func (s *Server) updatePortal(c *fiber.Ctx, p *core.Principal) error {
	const op = "portal.update"
	var req PortalRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	r, err := req.core(op)
	if err != nil {
		return err
	}
	pt, err := s.svc.UpdatePortal(c.UserContext(), p, param(c, "portal_id"), r)
	if err != nil {
		return err
	}
	return c.JSON(s.portalView(pt))
}

func (s *Server) deletePortal(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.DeletePortal(c.UserContext(), p, param(c, "portal_id")); err != nil {
		return err
	}
	return noContent(c)
}

// putPortalAsset takes a logo or background image as the raw body.
func (s *Server) putPortalAsset(c *fiber.Ctx, p *core.Principal) error {
	const op = "portal.asset"
	c.Locals(drainLocal, true)
	if c.Request().Header.ContentLength() > core.MaxAssetBytes {
		return core.E(op, core.TooLarge, "images may hold at most %d bytes", core.MaxAssetBytes)
	}
	body, err := readLimited(c, core.MaxAssetBytes)
	if err != nil {
		return core.E(op, core.TooLarge, "images may hold at most %d bytes", core.MaxAssetBytes)
	}
	pt, err := s.svc.SetPortalAsset(c.UserContext(), p, param(c, "portal_id"), assetKind(c), body)
	if err != nil {
		return err
	}
	return c.JSON(s.portalView(pt))
}

func (s *Server) deletePortalAsset(c *fiber.Ctx, p *core.Principal) error {
	pt, err := s.svc.SetPortalAsset(c.UserContext(), p, param(c, "portal_id"), assetKind(c), nil)
	if err != nil {
		return err
	}
	return c.JSON(s.portalView(pt))
}

func assetKind(c *fiber.Ctx) string {
	if strings.HasSuffix(c.Path(), "/background") {
		return "background"
	}
	return "logo"
}

// getPortalAsset serves a portal's image to anyone (upload pages, mails).
func (s *Server) getPortalAsset(c *fiber.Ctx) error {
	a, err := s.svc.PortalAsset(c.UserContext(), param(c, "portal_id"), assetKind(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	c.Set("Content-Security-Policy", "default-src 'none'")
	return c.Send(a.Data)
}

// PublicPortalResponse is what an upload page needs: no secrets, no
// people.
type PublicPortalResponse struct {
	ID                string              `json:"id"`
	Name              string              `json:"name"`
	Subdomain         string              `json:"subdomain"`
	Team              string              `json:"team"`
	Message           string              `json:"message"`
	Active            bool                `json:"active"`
	AcceptingUploads  bool                `json:"accepting_uploads"`
	Reason            string              `json:"reason,omitempty"`
	HasAccessCode     bool                `json:"has_access_code"`
	UserAuthRequired  bool                `json:"user_authentication_required"`
	PrimaryColor      string              `json:"primary_color"`
	LogoURL           string              `json:"logo_url"`
	BackgroundURL     string              `json:"background_url"`
	FileTypesEnabled  bool                `json:"file_type_restriction_enabled"`
	FileTypesExclude  bool                `json:"file_type_restriction_exclude"`
	FileTypes         []string            `json:"file_types"`
	SizeRulesEnabled  bool                `json:"package_size_restriction_enabled"`
	MaxFileCount      int                 `json:"max_file_count"`
	MaxFileSize       int64               `json:"max_file_size"`
	MaxPackageSize    int64               `json:"max_package_size"`
	NameFormatEnabled bool                `json:"package_name_format_enabled"`
	NameFormat        core.NameFormat     `json:"package_name_format"`
	TermsEnabled      bool                `json:"terms_of_service_enabled"`
	Terms             core.TermsOfService `json:"terms_of_service"`
	Form              *FormResponse       `json:"form"`
}

func (s *Server) publicPortalView(pp *core.PublicPortal) PublicPortalResponse {
	p := pp.Portal
	out := PublicPortalResponse{ID: p.ID, Name: p.Name, Subdomain: p.Subdomain, Team: pp.Team, Message: p.Message, Active: p.Active,
		AcceptingUploads: pp.Usable == nil, HasAccessCode: pp.HasCode, UserAuthRequired: p.UserAuthRequired, PrimaryColor: p.PrimaryColor,
		LogoURL: s.assetURL(p, "logo", p.LogoAsset), BackgroundURL: s.assetURL(p, "background", p.BackgroundAsset),
		FileTypesEnabled: p.FileTypesEnabled, FileTypesExclude: p.FileTypesExclude, FileTypes: nonNil(p.FileTypes),
		SizeRulesEnabled: p.SizeRulesEnabled, MaxFileCount: p.MaxFileCount, MaxFileSize: p.MaxFileSize, MaxPackageSize: p.MaxPackageSize,
		NameFormatEnabled: p.NameFormatEnabled, NameFormat: p.NameFormat, TermsEnabled: p.TermsEnabled, Terms: p.Terms}
	if pp.Usable != nil {
		out.Reason = pp.Usable.(*core.Error).Msg
	}
	if pp.Form != nil {
		f := formView(pp.Form)
		// Hidden fields are the studio's: the page neither shows nor
		// needs their defaults.
		fields := make([]form.Field, 0, len(f.Fields))
		for _, fl := range f.Fields {
			if fl.Visibility == form.Hidden {
				fl.DefaultValue = nil
			}
			fields = append(fields, fl)
		}
		f.Fields = fields
		out.Form = &f
	}
	return out
}

func (s *Server) portalBySubdomain(c *fiber.Ctx) error {
	pp, err := s.svc.PortalBySubdomain(c.UserContext(), param(c, "subdomain"))
	if err != nil {
		return err
	}
	return c.JSON(s.publicPortalView(pp))
}

// PortalPackageRequest is the body of POST /v1/portals/{id}/packages.
type PortalPackageRequest struct {
	Name          string `json:"name"`
	Sender        string `json:"sender"`
	Description   string `json:"description"`
	AccessCode    string `json:"access_code"`
	FormDataID    string `json:"form_data_id"`
	TermsAccepted bool   `json:"terms_accepted"`
}

// createPortalPackage creates a package through a portal: no credential
// (or, on a portal that requires it, a team member's).
func (s *Server) createPortalPackage(c *fiber.Ctx) error {
	const op = "portal.package"
	var req PortalPackageRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	var p *core.Principal
	if cr := s.credentials(c); cr.Present() {
		pr, err := s.svc.Authenticate(c.UserContext(), cr)
		if err != nil {
			return err
		}
		p = pr
	}
	code := req.AccessCode
	if code == "" {
		code = c.Get("X-Access-Code")
	}
	v, err := s.svc.CreatePortalPackage(c.UserContext(), p, param(c, "portal_id"), core.PortalPackageRequest{Name: req.Name,
		Sender: req.Sender, Description: req.Description, AccessCode: code, FormDataID: req.FormDataID,
		TermsAccepted: req.TermsAccepted, ClientIP: clientIPOf(c)})
	if err != nil {
		return err
	}
	// The sender learns nothing of the studio's people.
	out := packageView(v)
	out.Recipients, out.CCRecipients = []string{}, nil
	return created(c, out)
}

// FormResponse is a portal's form as the API shows it.
type FormResponse struct {
	ID              string       `json:"id"`
	PortalID        string       `json:"portal_id"`
	Name            string       `json:"name"`
	DeliveryFormats []string     `json:"delivery_formats"`
	Fields          []form.Field `json:"fields"`
	CreatedAt       Time         `json:"created_at"`
	UpdatedAt       Time         `json:"updated_at"`
}

func formView(f *core.Form) FormResponse {
	return FormResponse{ID: f.ID, PortalID: f.PortalID, Name: f.Name, DeliveryFormats: nonNil(f.DeliveryFormats), Fields: f.Fields,
		CreatedAt: Time(f.CreatedAt), UpdatedAt: Time(f.UpdatedAt)}
}

func (s *Server) putForm(create bool) func(c *fiber.Ctx, p *core.Principal) error {
	return func(c *fiber.Ctx, p *core.Principal) error {
		var def form.Definition
		if err := decode(c, "form.update", &def); err != nil {
			return err
		}
		f, err := s.svc.PutPortalForm(c.UserContext(), p, param(c, "portal_id"), def, create)
		if err != nil {
			return err
		}
		if create {
			return created(c, formView(f))
		}
		return c.JSON(formView(f))
	}
}

func (s *Server) getForm(c *fiber.Ctx, p *core.Principal) error {
	f, err := s.svc.PortalForm(c.UserContext(), p, param(c, "portal_id"))
	if err != nil {
		return err
	}
	return c.JSON(formView(f))
}

func (s *Server) deleteForm(c *fiber.Ctx, p *core.Principal) error {
	if err := s.svc.DeletePortalForm(c.UserContext(), p, param(c, "portal_id")); err != nil {
		return err
	}
	return noContent(c)
}

// FormAnswer is the body of POST /v1/portals/{id}/form/responses.
type FormAnswer struct {
	Values map[string]json.RawMessage `json:"values"`
}

func (s *Server) submitFormResponse(c *fiber.Ctx) error {
	const op = "form.respond"
	var req struct {
		Values map[string]any `json:"values"`
	}
	body, err := jsonBody(c, op)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber() // numbers stay exact (whole numbers only)
	if err := dec.Decode(&req); err != nil {
		return core.Invalidf(op, "values", "the request body must be {\"values\": {field name: value}}: %v", err)
	}
	id, err := s.svc.SubmitFormResponse(c.UserContext(), param(c, "portal_id"), req.Values, clientIPOf(c))
	if err != nil {
		return err
	}
	return created(c, fiber.Map{"id": id})
}

func (s *Server) inbox(c *fiber.Ctx, p *core.Principal) error {
	return s.packageList(c, p, "inbox.list", s.svc.Inbox)
}
