package core

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Portal is a branded public upload page of a team at
// <subdomain>.<portal domain>: outside senders upload packages through it
// under its rules (MASV §3). Secrets (access code, download password) are
// argon2id hashes.
type Portal struct {
	ID        string `json:"id"`
	TeamID    string `json:"team_id"`
	Name      string `json:"name"`
	Subdomain string `json:"subdomain"` // lower-cased, unique
	Message   string `json:"message"`
	Active    bool   `json:"active"`
	// AccessCodeHash is the upload password's hash; empty for none.
	AccessCodeHash string `json:"access_code_hash"`
	// DownloadPasswordHash protects the links of every package received.
	DownloadPasswordHash string   `json:"download_password_hash"`
	AccessLevel          string   `json:"access_level"` // regular or private
	AccessList           []string `json:"access_list"`  // membership ids (private portals)
	TeamspaceID          string   `json:"teamspace_id"`
	// UserAuthRequired: only the team's members may upload (logged in).
	UserAuthRequired         bool      `json:"user_authentication_required"`
	DownloadUserAuthRequired bool      `json:"download_user_authentication_required"`
	ExpiryEnabled            bool      `json:"expiry_enabled"`
	Expiry                   time.Time `json:"expiry,omitzero"`
	Recipients               []string  `json:"recipients"`
	CCRecipients             []string  `json:"cc_recipients"`
	DisableUploadReceipt     bool      `json:"disable_upload_receipt"`
	PrimaryColor             string    `json:"primary_color"`
	// LogoAsset and BackgroundAsset name images uploaded to haul (served
	// by haul, so pages and mails load nothing from elsewhere).
	LogoAsset       string `json:"logo_asset,omitempty"`
	BackgroundAsset string `json:"background_asset,omitempty"`
	// CustomExpiryDays is the storage of received packages; 0 = the
	// team's default.
	CustomExpiryDays int `json:"custom_expiry_days"`
	// File type rules: an allow-list of extensions, or a deny-list when
	// FileTypesExclude.
	FileTypesEnabled bool     `json:"file_type_restriction_enabled"`
	FileTypesExclude bool     `json:"file_type_restriction_exclude"`
	FileTypes        []string `json:"file_types"`
	// Size rules (bytes; 0 = none), applied while SizeRulesEnabled.
	SizeRulesEnabled  bool           `json:"package_size_restriction_enabled"`
	MaxFileCount      int            `json:"max_file_count"`
	MaxFileSize       int64          `json:"max_file_size"`
	MaxPackageSize    int64          `json:"max_package_size"`
	NameFormatEnabled bool           `json:"package_name_format_enabled"`
	NameFormat        NameFormat     `json:"package_name_format"`
	TermsEnabled      bool           `json:"terms_of_service_enabled"`
	Terms             TermsOfService `json:"terms_of_service"`
	FormID            string         `json:"form_id,omitempty"`
	// CustomWebhooks are webhooks of the team that fire for this portal's
	// packages (and then for no other's).
	CustomWebhooks []string  `json:"custom_webhooks,omitempty"`
	CreatorUserID  string    `json:"creator_user_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// NameFormat is a package-name rule: a regular expression the whole name
// must match, and the label that tells senders what is expected.
type NameFormat struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// TermsOfService is the checkbox a sender ticks before uploading.
type TermsOfService struct {
	Title         string `json:"title"`
	Description   string `json:"description"`
	CheckboxLabel string `json:"checkbox_label"`
	CheckboxURL   string `json:"checkbox_url"`
}

// Portal access levels.
const (
	PortalRegular = "regular"
	PortalPrivate = "private"
)

// PortalTx stores portals; subdomains are unique.
type PortalTx interface {
	Portal(id string) (*Portal, error)
	PortalBySubdomain(sub string) (*Portal, error)
	PutPortal(p *Portal) error
	DeletePortal(id string) error
	TeamPortals(teamID string) ([]*Portal, error)
}

// Asset is an image uploaded for a portal's branding.
type Asset struct {
	ID          string    `json:"id"`
	TeamID      string    `json:"team_id"`
	ContentType string    `json:"content_type"`
	Data        []byte    `json:"data"`
	CreatedAt   time.Time `json:"created_at"`
}

// AssetTx stores branding assets.
type AssetTx interface {
	Asset(id string) (*Asset, error)
	PutAsset(a *Asset) error
	DeleteAsset(id string) error
}

// Limits of portal fields.
const (
	minSubdomainLen   = 3
	maxSubdomainLen   = 53
	maxSecretLen      = 72
	maxMessageLen     = 10_000
	maxFileTypes      = 200
	maxNameFormatLen  = 1000
	maxPortalStorage  = 365
	MaxAssetBytes     = 2 << 20
	maxPortalRecipnts = 100
)

// reservedSubdomains are names a portal may not take: haul's own hosts
// and names people would mistake for the studio's.
var reservedSubdomains = map[string]bool{
	"www": true, "api": true, "admin": true, "app": true, "mail": true, "smtp": true, "imap": true, "pop": true,
	"static": true, "assets": true, "cdn": true, "portal": true, "portals": true, "download": true, "downloads": true,
	"dl": true, "s3": true, "ftp": true, "ns1": true, "ns2": true, "localhost": true, "haul": true, "status": true,
	"help": true, "support": true, "docs": true, "auth": true, "login": true, "webmail": true, "autodiscover": true,
}

var subdomainRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CheckSubdomain validates a portal subdomain (lower-cased): 3–53
// characters of a–z, 0–9 and inner hyphens, not reserved.
func CheckSubdomain(op, sub string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(sub))
	switch {
	case len(s) < minSubdomainLen || len(s) > maxSubdomainLen:
		return "", Invalidf(op, "subdomain", "subdomain must be %d to %d characters long; got %d", minSubdomainLen, maxSubdomainLen, len(s))
	case !subdomainRE.MatchString(s):
		return "", Invalidf(op, "subdomain", "subdomain %q may hold only letters a–z, digits and hyphens, and may not start or end with a hyphen", sub)
	case strings.HasPrefix(s, "xn--"):
		return "", Invalidf(op, "subdomain", "subdomain %q looks like an internationalized (punycode) name; use plain letters", sub)
	case reservedSubdomains[s]:
		return "", Invalidf(op, "subdomain", "subdomain %q is reserved; choose another", s)
	}
	return s, nil
}

var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// PortalRequest is a portal's settings as sent (create or update). Nil
// fields are left as they are (update) or take their default (create).
type PortalRequest struct {
	Name                     *string
	Subdomain                *string
	Message                  *string
	Active                   *bool
	HasAccessCode            *bool
	AccessCode               *string
	HasDownloadPassword      *bool
	DownloadPassword         *string
	AccessLevel              *string
	AccessList               *[]string
	TeamspaceID              *string
	UserAuthRequired         *bool
	DownloadUserAuthRequired *bool
	ExpiryEnabled            *bool
	Expiry                   *time.Time
	Recipients               *[]string
	CCRecipients             *[]string
	DisableUploadReceipt     *bool
	PrimaryColor             *string
	CustomExpiryDays         *int
	FileTypesEnabled         *bool
	FileTypesExclude         *bool
	FileTypes                *[]string
	SizeRulesEnabled         *bool
	MaxFileCount             *int
	MaxFileSize              *int64
	MaxPackageSize           *int64
	NameFormatEnabled        *bool
	NameFormat               *NameFormat
	TermsEnabled             *bool
	Terms                    *TermsOfService
	CustomWebhooks           *[]string
}

// hashedSecrets are the request's secrets, hashed before the transaction
// (slow; must not be redone on a conflict retry).
type hashedSecrets struct{ code, download string }

func (s *Service) hashPortalSecrets(ctx context.Context, op string, r *PortalRequest) (hashedSecrets, error) {
	var h hashedSecrets
	for _, sec := range []struct {
		field string
		v     *string
		dst   *string
	}{{"access_code", r.AccessCode, &h.code}, {"download_password", r.DownloadPassword, &h.download}} {
		if sec.v == nil || *sec.v == "" {
			continue
		}
		if len(*sec.v) > maxSecretLen {
			return h, Invalidf(op, sec.field, "%s must be at most %d bytes", sec.field, maxSecretLen)
		}
		var err error
		if *sec.dst, err = s.hasher.Hash(ctx, *sec.v); err != nil {
			return h, Wrap(op, err)
		}
	}
	return h, nil
}

// applyPortal applies r to pt (a copy), validating every field against
// the team, and checks the whole.
func (s *Service) applyPortal(tx Tx, op string, team *Team, pt *Portal, r *PortalRequest, h hashedSecrets) error {
	if r.Name != nil {
		n, err := CheckName(op, "name", *r.Name)
		if err != nil {
			return err
		}
		pt.Name = n
	}
	if r.Subdomain != nil {
		sub, err := CheckSubdomain(op, *r.Subdomain)
		if err != nil {
			return err
		}
		if s.portalDomain != "" {
			host := sub + "." + s.portalDomain
			for _, base := range []string{s.publicURL, s.linkBase} {
				if u, err := url.Parse(base); err == nil && strings.EqualFold(u.Hostname(), host) {
					return Invalidf(op, "subdomain", "subdomain %q would take %s, haul's own address; choose another", sub, host)
				}
			}
		}
		pt.Subdomain = sub
	}
	if r.Message != nil {
		if err := CheckText(op, "message", *r.Message, maxMessageLen); err != nil {
			return err
		}
		pt.Message = *r.Message
	}
	set(&pt.Active, r.Active)
	// Secrets: a new value sets it; has_…=false clears it.
	if h.code != "" {
		pt.AccessCodeHash = h.code
	} else if r.HasAccessCode != nil && !*r.HasAccessCode {
		pt.AccessCodeHash = ""
	}
	if r.HasAccessCode != nil && *r.HasAccessCode && pt.AccessCodeHash == "" {
		return Invalidf(op, "access_code", "has_access_code is set but no access_code was given")
	}
	if h.download != "" {
		pt.DownloadPasswordHash = h.download
	} else if r.HasDownloadPassword != nil && !*r.HasDownloadPassword {
		pt.DownloadPasswordHash = ""
	}
	if r.HasDownloadPassword != nil && *r.HasDownloadPassword && pt.DownloadPasswordHash == "" {
		return Invalidf(op, "download_password", "has_download_password is set but no download_password was given")
	}
	if r.AccessLevel != nil {
		switch *r.AccessLevel {
		case PortalRegular, PortalPrivate:
			pt.AccessLevel = *r.AccessLevel
		default:
			return Invalidf(op, "access_level", "access_level must be regular or private; got %q", *r.AccessLevel)
		}
	}
	if r.AccessList != nil {
		list := []string{}
		for _, id := range *r.AccessList {
			m, err := tx.Membership(id)
			if Is(err, NotFound) || (err == nil && m.TeamID != team.ID) {
				return Invalidf(op, "access_list", "access_list: %q is not a member of this team (use member ids)", id)
			}
			if err != nil {
				return err
			}
			if !slices.Contains(list, id) {
				list = append(list, id)
			}
		}
		pt.AccessList = list
	}
	if r.TeamspaceID != nil {
		if *r.TeamspaceID != "" {
			sp, err := tx.Teamspace(*r.TeamspaceID)
			if Is(err, NotFound) || (err == nil && sp.TeamID != team.ID) {
				return Invalidf(op, "teamspace_id", "teamspace_id %q is not a teamspace of this team", *r.TeamspaceID)
			}
			if err != nil {
				return err
			}
		}
		pt.TeamspaceID = *r.TeamspaceID
	}
	set(&pt.UserAuthRequired, r.UserAuthRequired)
	set(&pt.DownloadUserAuthRequired, r.DownloadUserAuthRequired)
	set(&pt.ExpiryEnabled, r.ExpiryEnabled)
	if r.Expiry != nil {
		pt.Expiry = r.Expiry.UTC()
	}
	for _, l := range []struct {
		field string
		in    *[]string
		dst   *[]string
	}{{"recipients", r.Recipients, &pt.Recipients}, {"cc_recipients", r.CCRecipients, &pt.CCRecipients}} {
		if l.in == nil {
			continue
		}
		out := []string{}
		for _, e := range *l.in {
			em, err := NormalizeEmail(op, l.field, e)
			if err != nil {
				return err
			}
			if !slices.Contains(out, em) {
				out = append(out, em)
			}
		}
		if max := team.MaxEmailRecipients; (max > 0 && len(out) > max) || len(out) > maxPortalRecipnts {
			return Invalidf(op, l.field, "%s: at most %d addresses (max_email_recipients); got %d", l.field, min(max, maxPortalRecipnts), len(out))
		}
		*l.dst = out
	}
	set(&pt.DisableUploadReceipt, r.DisableUploadReceipt)
	if r.PrimaryColor != nil {
		if *r.PrimaryColor != "" && !colorRE.MatchString(*r.PrimaryColor) {
			return Invalidf(op, "primary_color", "primary_color must be a hex colour such as #1a2b3c; got %q", *r.PrimaryColor)
		}
		pt.PrimaryColor = strings.ToLower(*r.PrimaryColor)
	}
	if r.CustomExpiryDays != nil {
		d := *r.CustomExpiryDays
		if d < 0 || d > maxPortalStorage {
			return Invalidf(op, "custom_expiry_days", "custom_expiry_days must be 0 (the team's default) to %d; haul keeps no package forever", maxPortalStorage)
		}
		pt.CustomExpiryDays = d
	}
	set(&pt.FileTypesEnabled, r.FileTypesEnabled)
	set(&pt.FileTypesExclude, r.FileTypesExclude)
	if r.FileTypes != nil {
		types := []string{}
		for _, t := range *r.FileTypes {
			e := strings.ToLower(strings.TrimSpace(t))
			if !strings.HasPrefix(e, ".") {
				e = "." + e
			}
			if len(e) < 2 || len(e) > 32 || strings.ContainsAny(e, `/\ `) || strings.Contains(e[1:], "..") {
				return Invalidf(op, "file_types", "file_types: %q is not a file extension such as .mov", t)
			}
			if !slices.Contains(types, e) {
				types = append(types, e)
			}
		}
		if len(types) > maxFileTypes {
			return Invalidf(op, "file_types", "at most %d file types", maxFileTypes)
		}
		pt.FileTypes = types
	}
	set(&pt.SizeRulesEnabled, r.SizeRulesEnabled)
	if r.MaxFileCount != nil {
		if *r.MaxFileCount < 0 {
			return Invalidf(op, "max_file_count", "max_file_count must be 0 (no limit) or more")
		}
		pt.MaxFileCount = *r.MaxFileCount
	}
	for _, l := range []struct {
		field string
		in    *int64
		dst   *int64
	}{{"max_file_size", r.MaxFileSize, &pt.MaxFileSize}, {"max_package_size", r.MaxPackageSize, &pt.MaxPackageSize}} {
		if l.in == nil {
			continue
		}
		if *l.in < 0 {
			return Invalidf(op, l.field, "%s must be 0 (no limit) or more bytes", l.field)
		}
		*l.dst = *l.in
	}
	set(&pt.NameFormatEnabled, r.NameFormatEnabled)
	if r.NameFormat != nil {
		pt.NameFormat = *r.NameFormat
	}
	set(&pt.TermsEnabled, r.TermsEnabled)
	if r.Terms != nil {
		pt.Terms = *r.Terms
	}
	if r.CustomWebhooks != nil {
		ids := []string{}
		for _, id := range *r.CustomWebhooks {
			w, err := tx.Webhook(id)
			if Is(err, NotFound) || (err == nil && w.TeamID != team.ID) {
				return Invalidf(op, "custom_webhooks", "custom_webhooks: %q is not a webhook of this team", id)
			}
			if err != nil {
				return err
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		pt.CustomWebhooks = ids
	}
	return s.checkPortal(op, pt)
}

// checkPortal checks a portal's settings as a whole.
func (s *Service) checkPortal(op string, pt *Portal) error {
	if pt.Name == "" {
		return Invalidf(op, "name", "name is required")
	}
	if pt.Subdomain == "" {
		return Invalidf(op, "subdomain", "subdomain is required")
	}
	if pt.AccessLevel == "" {
		pt.AccessLevel = PortalRegular
	}
	if pt.AccessLevel == PortalPrivate {
		if pt.AccessCodeHash == "" {
			return Invalidf(op, "access_code", "a private portal needs an access code")
		}
		if pt.TeamspaceID != "" {
			return Invalidf(op, "teamspace_id", "a private portal cannot be in a teamspace (teamspaces replace private portals)")
		}
	}
	if pt.ExpiryEnabled && pt.Expiry.IsZero() {
		return Invalidf(op, "expiry", "expiry is required when expiry_enabled is set")
	}
	if pt.NameFormatEnabled {
		if _, err := compileNameFormat(pt.NameFormat.Value); err != nil {
			return Invalidf(op, "package_name_format", "package_name_format.value is not a usable regular expression: %v", err)
		}
		if err := CheckText(op, "package_name_format", pt.NameFormat.Label, MaxNameLen); err != nil {
			return err
		}
		if pt.NameFormat.Label == "" {
			return Invalidf(op, "package_name_format", "package_name_format.label is required: it tells senders what name is expected")
		}
	}
	if pt.TermsEnabled {
		t := pt.Terms
		if t.Title == "" || t.CheckboxLabel == "" {
			return Invalidf(op, "terms_of_service", "terms_of_service needs a title and a checkbox_label")
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"title", t.Title, MaxNameLen}, {"description", t.Description, maxMessageLen}, {"checkbox_label", t.CheckboxLabel, MaxNameLen}} {
			if err := CheckText(op, "terms_of_service", f.v, f.max); err != nil {
				return err
			}
		}
		if t.CheckboxURL != "" {
			if u, err := url.Parse(t.CheckboxURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return Invalidf(op, "terms_of_service", "terms_of_service.checkbox_url must be an http(s) URL")
			}
		}
	}
	return nil
}

// compileNameFormat compiles a package-name format so that it must match
// the whole name.
func compileNameFormat(v string) (*regexp.Regexp, error) {
	if v == "" {
		return nil, fmt.Errorf("empty")
	}
	if len(v) > maxNameFormatLen {
		return nil, fmt.Errorf("longer than %d characters", maxNameFormatLen)
	}
	return regexp.Compile(`^(?:` + v + `)$`)
}

// CreatePortal makes a portal (owner, admins). It starts inactive unless
// active is sent, as on MASV.
func (s *Service) CreatePortal(ctx context.Context, p *Principal, teamID string, r PortalRequest) (*Portal, error) {
	const op = "portal.create"
	h, err := s.hashPortalSecrets(ctx, op, &r)
	if err != nil {
		return nil, err
	}
	var out Portal
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActPortalManage)
		if err != nil {
			return err
		}
		now := s.now()
		pt := &Portal{ID: NewID(), TeamID: teamID, AccessLevel: PortalRegular, CreatorUserID: p.User.ID, CreatedAt: now, UpdatedAt: now,
			Recipients: []string{}, CCRecipients: []string{}, AccessList: []string{}, FileTypes: []string{}}
		if err := s.applyPortal(tx, op, a.team, pt, &r, h); err != nil {
			return err
		}
		if err := s.putPortal(tx, op, pt); err != nil {
			return err
		}
		out = *pt
		return s.event(tx, p, Event{TeamID: teamID, Type: EvPortalCreated, TargetID: pt.ID, Details: map[string]string{"subdomain": pt.Subdomain}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// putPortal stores a portal, turning a taken subdomain into a clear 409.
func (s *Service) putPortal(tx Tx, op string, pt *Portal) error {
	err := tx.PutPortal(pt)
	if Is(err, Exists) {
		return &Error{Op: op, Kind: Exists, Field: "subdomain", Msg: fmt.Sprintf("subdomain %q is taken by another portal; choose another", pt.Subdomain)}
	}
	return err
}

// portalFor loads a portal the caller manages (owner, admins of its team).
func (s *Service) portalFor(tx Tx, op string, p *Principal, id string) (*Portal, *access, error) {
	pt, err := tx.Portal(id)
	if Is(err, NotFound) {
		return nil, nil, E(op, NotFound, "portal %s not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	a, err := s.authorize(tx, op, p, pt.TeamID, ActPortalManage)
	if Is(err, NotFound) {
		return nil, nil, E(op, NotFound, "portal %s not found", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return pt, a, nil
}

// GetPortal returns a portal (owner, admins).
func (s *Service) GetPortal(ctx context.Context, p *Principal, id string) (*Portal, error) {
	const op = "portal.get"
	var out *Portal
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, _, err = s.portalFor(tx, op, p, id)
		return err
	})
	return out, Wrap(op, err)
}

// UpdatePortal changes a portal's settings (owner, admins).
func (s *Service) UpdatePortal(ctx context.Context, p *Principal, id string, r PortalRequest) (*Portal, error) {
	const op = "portal.update"
	h, err := s.hashPortalSecrets(ctx, op, &r)
	if err != nil {
		return nil, err
	}
	var (
		out  Portal
		gone string // a subdomain that stopped taking uploads
	)
	err = s.store.Update(ctx, func(tx Tx) error {
		gone = ""
		pt, a, err := s.portalFor(tx, op, p, id)
		if err != nil {
			return err
		}
		before := *pt
		if err := s.applyPortal(tx, op, a.team, pt, &r, h); err != nil {
			return err
		}
		if before.Subdomain != pt.Subdomain || (s.portalAccepts(op, &before) == nil && s.portalAccepts(op, pt) != nil) {
			gone = before.Subdomain
		}
		pt.UpdatedAt = s.now()
		if err := s.putPortal(tx, op, pt); err != nil {
			return err
		}
		out = *pt
		return s.event(tx, p, Event{TeamID: pt.TeamID, Type: EvPortalUpdated, TargetID: pt.ID})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.portalHostGone(gone)
	return &out, nil
}

// portalHostGone tells the HTTPS layer a subdomain stopped taking uploads.
func (s *Service) portalHostGone(sub string) {
	if sub != "" && s.hostGone != nil {
		s.hostGone(sub)
	}
}

// PortalHostAllowed says whether a certificate may be issued for a portal
// subdomain: an existing portal that accepts uploads (HTTPS on-demand
// certificates ask this at the first handshake).
func (s *Service) PortalHostAllowed(ctx context.Context, sub string) error {
	const op = "portal.host"
	return Wrap(op, s.store.View(ctx, func(tx Tx) error {
		pt, err := tx.PortalBySubdomain(strings.ToLower(sub))
		if err != nil {
			return err
		}
		return s.portalAccepts(op, pt)
	}))
}

// DeletePortal removes a portal, its form and its branding (owner,
// admins); packages received through it stay.
func (s *Service) DeletePortal(ctx context.Context, p *Principal, id string) error {
	const op = "portal.delete"
	var gone string
	err := s.store.Update(ctx, func(tx Tx) error {
		pt, _, err := s.portalFor(tx, op, p, id)
		if err != nil {
			return err
		}
		gone = pt.Subdomain
		for _, asset := range []string{pt.LogoAsset, pt.BackgroundAsset} {
			if asset != "" {
				if err := tx.DeleteAsset(asset); err != nil && !Is(err, NotFound) {
					return err
				}
			}
		}
		if pt.FormID != "" {
			if err := tx.DeleteForm(pt.FormID); err != nil && !Is(err, NotFound) {
				return err
			}
		}
		if err := tx.DeletePortal(pt.ID); err != nil {
			return err
		}
		return s.event(tx, p, Event{TeamID: pt.TeamID, Type: EvPortalDeleted, TargetID: pt.ID, Details: map[string]string{"subdomain": pt.Subdomain}})
	})
	if err == nil {
		s.portalHostGone(gone)
	}
	return Wrap(op, err)
}

// PortalQuery selects a team's portals (MASV's list filters).
type PortalQuery struct {
	Page       Page   // Sort: name, created_at, active (- for descending)
	Name       string // case-insensitive substring
	Subdomain  string // case-insensitive substring
	Teamspaces []string
}

// Portals lists a team's portals (owner, admins).
func (s *Service) Portals(ctx context.Context, p *Principal, teamID string, q PortalQuery) ([]*Portal, int, error) {
	const op = "portal.list"
	key := strings.TrimPrefix(q.Page.Sort, "-")
	switch key {
	case "", "name", "created_at", "active", "subdomain":
	default:
		return nil, 0, Invalidf(op, "sort", "sort %q is not one of name, created_at, active, subdomain (prefix - for descending)", q.Page.Sort)
	}
	if err := checkPage(op, q.Page); err != nil {
		return nil, 0, err
	}
	var (
		out   []*Portal
		total int
	)
	err := s.store.View(ctx, func(tx Tx) error {
		if _, err := s.authorize(tx, op, p, teamID, ActPortalManage); err != nil {
			return err
		}
		all, err := tx.TeamPortals(teamID)
		if err != nil {
			return err
		}
		var vis []*Portal
		for _, pt := range all {
			if (q.Name == "" || strings.Contains(strings.ToLower(pt.Name), strings.ToLower(q.Name))) &&
				(q.Subdomain == "" || strings.Contains(pt.Subdomain, strings.ToLower(q.Subdomain))) &&
				(len(q.Teamspaces) == 0 || slices.Contains(q.Teamspaces, pt.TeamspaceID)) {
				vis = append(vis, pt)
			}
		}
		desc := strings.HasPrefix(q.Page.Sort, "-")
		slices.SortStableFunc(vis, func(x, y *Portal) int {
			c := 0
			switch key {
			case "name":
				c = strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name))
			case "subdomain":
				c = strings.Compare(x.Subdomain, y.Subdomain)
			case "active":
				c = cmpBool(x.Active, y.Active)
			}
			if c == 0 {
				c = strings.Compare(x.ID, y.ID)
			}
			if desc {
				return -c
			}
			return c
		})
		total = len(vis)
		out = pageOf(vis, q.Page)
		return nil
	})
	return out, total, Wrap(op, err)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// PublicPortal is what an upload page needs of a portal: no secrets, no
// lists of people.
type PublicPortal struct {
	Portal  *Portal
	Form    *Form // nil without a form
	Team    string
	Usable  error // why the portal refuses uploads now, if it does
	HasCode bool
}

// PortalBySubdomain returns a portal's public face (no authentication).
// An unknown subdomain is 404; an inactive or expired portal is described
// with the reason it refuses uploads.
func (s *Service) PortalBySubdomain(ctx context.Context, sub string) (*PublicPortal, error) {
	const op = "portal.public"
	var out PublicPortal
	err := s.store.View(ctx, func(tx Tx) error {
		pt, err := tx.PortalBySubdomain(strings.ToLower(sub))
		if Is(err, NotFound) {
			return E(op, NotFound, "no portal at %q: check the address", sub)
		}
		if err != nil {
			return err
		}
		team, err := tx.Team(pt.TeamID)
		if err != nil {
			return err
		}
		out = PublicPortal{Portal: pt, Team: team.Name, HasCode: pt.AccessCodeHash != "", Usable: s.portalAccepts(op, pt)}
		if pt.FormID != "" {
			if out.Form, err = tx.Form(pt.FormID); err != nil && !Is(err, NotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// portalAccepts says why a portal refuses uploads now, if it does.
func (s *Service) portalAccepts(op string, pt *Portal) error {
	switch {
	case !pt.Active:
		return E(op, Forbidden, "the portal %q is not accepting uploads at the moment; ask the studio to activate it", pt.Name)
	case pt.ExpiryEnabled && !pt.Expiry.After(s.now()):
		return E(op, Gone, "the portal %q expired on %s and no longer accepts uploads", pt.Name, pt.Expiry.Format("2 Jan 2006"))
	}
	return nil
}

// portalNamed reports whether the portal id has the given name
// (case-insensitive), for the inbox's portal filter.
func (r *portalReader) portalNamed(id, name string) bool {
	pt, _ := r.rules(id)
	return pt != nil && strings.EqualFold(pt.Name, name)
}

// Inbox lists the packages received through portals that the caller may
// read (canReadPackage), with the package list's filters.
func (s *Service) Inbox(ctx context.Context, p *Principal, teamID string, q PackageQuery) ([]PackageView, int, error) {
	q.Inbox = true
	return s.Packages(ctx, p, teamID, q)
}

// imageType names an image's type from its first bytes: PNG, JPEG, GIF
// or WebP. SVG is refused: it can carry scripts.
func imageType(b []byte) string {
	switch {
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "image/png"
	case len(b) >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		return "image/jpeg"
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return "image/gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	}
	return ""
}

// SetPortalAsset sets (data non-nil) or removes a portal's logo or
// background image (owner, admins): PNG, JPEG, GIF or WebP of at most
// MaxAssetBytes, kept in haul and served by it.
func (s *Service) SetPortalAsset(ctx context.Context, p *Principal, portalID, which string, data []byte) (*Portal, error) {
	const op = "portal.asset"
	ct := ""
	if data != nil {
		if len(data) > MaxAssetBytes {
			return nil, E(op, TooLarge, "images may hold at most %d bytes", MaxAssetBytes)
		}
		if ct = imageType(data); ct == "" {
			return nil, E(op, UnsupportedMediaType, "the %s must be a PNG, JPEG, GIF or WebP image", which)
		}
	}
	var out Portal
	err := s.store.Update(ctx, func(tx Tx) error {
		pt, _, err := s.portalFor(tx, op, p, portalID)
		if err != nil {
			return err
		}
		slot := &pt.LogoAsset
		if which == "background" {
			slot = &pt.BackgroundAsset
		}
		if *slot != "" {
			if err := tx.DeleteAsset(*slot); err != nil && !Is(err, NotFound) {
				return err
			}
			*slot = ""
		}
		if data != nil {
			a := &Asset{ID: NewID(), TeamID: pt.TeamID, ContentType: ct, Data: data, CreatedAt: s.now()}
			if err := tx.PutAsset(a); err != nil {
				return err
			}
			*slot = a.ID
		}
		pt.UpdatedAt = s.now()
		if err := tx.PutPortal(pt); err != nil {
			return err
		}
		out = *pt
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// PortalAsset returns a portal's logo or background image (public).
func (s *Service) PortalAsset(ctx context.Context, portalID, which string) (*Asset, error) {
	const op = "portal.asset"
	var out *Asset
	err := s.store.View(ctx, func(tx Tx) error {
		pt, err := tx.Portal(portalID)
		if err != nil {
			return err
		}
		id := pt.LogoAsset
		if which == "background" {
			id = pt.BackgroundAsset
		}
		if id == "" {
			return E(op, NotFound, "this portal has no %s", which)
		}
		out, err = tx.Asset(id)
		return err
	})
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "no %s for portal %s", which, portalID)
	}
	return out, Wrap(op, err)
}
