package core

import (
	"context"
	"slices"
	"strings"
	"time"
)

// PackageState is where a package is in its life: new (being uploaded),
// finalized (locked, downloadable), expired or archived (deleted; its
// blocks released).
type PackageState string

const (
	PackageNew       PackageState = "new"
	PackageFinalized PackageState = "finalized"
	PackageExpired   PackageState = "expired"
	PackageArchived  PackageState = "archived"
)

// Package is the unit of transfer: a virtual folder of Files.
type Package struct {
	ID          string `json:"id"`
	TeamID      string `json:"team_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Sender is the email of the user who created the package.
	Sender        string   `json:"sender"`
	CreatorUserID string   `json:"creator_user_id"`
	Recipients    []string `json:"recipients"`
	// PasswordHash is the argon2id PHC string of the download password;
	// empty for none.
	PasswordHash string       `json:"password_hash"`
	AccessLimit  int          `json:"access_limit"`
	TeamspaceID  string       `json:"teamspace_id"`
	State        PackageState `json:"state"`
	Expiry       time.Time    `json:"expiry"`
	CustomExpiry bool         `json:"custom_expiry"`
	// Size and TotalFiles count the finalized files.
	Size        int64     `json:"size"`
	TotalFiles  int       `json:"total_files"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	FinalizedAt time.Time `json:"finalized_at"`
	// Released is set once every block reference of an expired or
	// archived package has been released; until then the expiry job
	// finishes what a deletion or an expiry left undone.
	Released bool `json:"released,omitempty"`
	// ActivityID names the package's upload activity.
	ActivityID string `json:"activity_id,omitempty"`
	// PortalID names the portal a received package came through;
	// CCRecipients are told of it without a link; FormDataID names the
	// sender's form response, delivered at finalize (FormEmailBody is its
	// email rendering, for the notifications).
	PortalID      string   `json:"portal_id,omitempty"`
	CCRecipients  []string `json:"cc_recipients,omitempty"`
	FormDataID    string   `json:"form_data_id,omitempty"`
	FormEmailBody string   `json:"form_email_body,omitempty"`
	// FirstDownloadAt is when a link's download first started (the
	// sender is told once).
	FirstDownloadAt time.Time `json:"first_download_at,omitzero"`
	// RemindedAt is when its recipients were reminded of the expiry.
	RemindedAt time.Time `json:"reminded_at,omitzero"`
}

// FileState is new (being uploaded) or finalized (its blocks recorded).
type FileState string

const (
	FileNew       FileState = "new"
	FileFinalized FileState = "finalized"
	// FileDeleting marks a file whose references are being released
	// before its record goes (DeleteFile); lists do not show it.
	FileDeleting FileState = "deleting"
)

// File is one file of a package. Its bytes are blocks in the chunk store,
// held by parts: until finalize by the parts of its open upload
// (UploadID); from finalize on by the listed parts of the upload it was
// finalized from (PartsID), kept as the file's block lists in part order,
// so the file record does not grow with the file. Files finalized before
// that hold their blocks in Blocks instead (fileBlocks reads either).
type File struct {
	ID        string `json:"id"`
	PackageID string `json:"package_id"`
	TeamID    string `json:"team_id"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Path is the file's directory inside the package ("" for the top),
	// without the name.
	Path         string    `json:"path"`
	LastModified time.Time `json:"last_modified"`
	// Size is the declared size until finalize (-1 when none was
	// declared), then the true size.
	Size      int64     `json:"size"`
	ChunkSize int64     `json:"chunk_size"`
	State     FileState `json:"state"`
	// Digest is the BLAKE3-256 of the file's bytes (what b3sum prints).
	Digest Hash `json:"digest"`
	// CRC32 is the IEEE CRC-32 of the file's bytes (the zip of the package
	// needs it), when HasCRC: combined at finalize from the blocks' CRCs.
	CRC32  uint32 `json:"crc32,omitempty"`
	HasCRC bool   `json:"has_crc,omitempty"`
	// Blocks are the blocks of a file finalized before PartsID existed;
	// finalize no longer sets them.
	Blocks []Block `json:"blocks,omitempty"`
	// UploadID names the file's multipart upload; empty when none is open.
	UploadID string `json:"upload_id"`
	// PartsID names, once the file is finalized, the upload whose parts
	// hold the file's blocks (in part order); empty before finalize, for
	// files finalized with Blocks, and once a release has dropped them.
	PartsID     string    `json:"parts_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	FinalizedAt time.Time `json:"finalized_at"`
	// UploadStartedAt is when the open upload was created; LastPartAt when
	// its last part was stored (written at most once a minute, so parallel
	// parts rarely conflict on the file record). The abandoned-upload job
	// measures an upload's idleness from the later of them.
	UploadStartedAt time.Time `json:"upload_started_at,omitzero"`
	LastPartAt      time.Time `json:"last_part_at,omitzero"`
	// Abandoned is set when the abandoned-upload job dropped the file's
	// upload and its space reservation; starting a new upload reserves
	// again.
	Abandoned bool `json:"abandoned,omitempty"`
}

// Part is one durable part of a multipart upload: its blocks are
// referenced in the chunk store until the upload is aborted or the file
// deleted (then they are released). A part listed at finalize stays as one
// of the finalized file's block lists (File.PartsID); one not listed is
// released then.
type Part struct {
	UploadID   string `json:"upload_id"`
	FileID     string `json:"file_id"`
	PartNumber int    `json:"part_number"`
	Size       int64  `json:"size"`
	// ETag is opaque to clients: the hex of a keyed hash of the part's
	// block list, quoted on the wire.
	ETag      string    `json:"etag"`
	Blocks    []Block   `json:"blocks"`
	CreatedAt time.Time `json:"created_at"`
}

// PackageTx stores packages, listed per team in id (creation) order.
type PackageTx interface {
	Package(id string) (*Package, error)
	PutPackage(p *Package) error
	TeamPackages(teamID string) ([]*Package, error)
}

// FileTx stores files, listed per package in id (creation) order.
type FileTx interface {
	File(id string) (*File, error)
	PutFile(f *File) error
	DeleteFile(id string) error
	PackageFiles(packageID string) ([]*File, error)
}

// PartTx stores the parts of multipart uploads, listed per upload in part
// number order.
type PartTx interface {
	Part(uploadID string, number int) (*Part, error)
	PutPart(p *Part) error
	DeletePart(uploadID string, number int) error
	UploadParts(uploadID string) ([]*Part, error)
}

// UploadConfig holds the limits of the upload data plane (MASV's, from S3).
type UploadConfig struct {
	MaxChunks        int           // parts per file (10,000)
	MinChunkSize     int64         // 5 MiB; tests lower it
	MaxChunkSize     int64         // 5 GiB
	DefaultChunkSize int64         // 100 MiB
	URLLifetime      time.Duration // signed URLs (7 days)
	// DefaultExpiryDays is the package lifetime when neither the request
	// nor the team's custom_expiry_default gives one.
	DefaultExpiryDays int
	// ReleaseBatch is how many block references one transaction releases
	// when a package is deleted (4096).
	ReleaseBatch int
}

// DefaultUploadConfig fills the zero fields of Deps.Uploads.
var DefaultUploadConfig = UploadConfig{
	MaxChunks:         10000,
	MinChunkSize:      5 << 20,
	MaxChunkSize:      5 << 30,
	DefaultChunkSize:  100 << 20,
	URLLifetime:       7 * 24 * time.Hour,
	DefaultExpiryDays: 30,
	ReleaseBatch:      4096,
}

func (c UploadConfig) withDefaults() UploadConfig {
	d := DefaultUploadConfig
	orDefault(&c.MaxChunks, d.MaxChunks)
	orDefault(&c.MinChunkSize, d.MinChunkSize)
	orDefault(&c.MaxChunkSize, d.MaxChunkSize)
	orDefault(&c.DefaultChunkSize, d.DefaultChunkSize)
	orDefault(&c.URLLifetime, d.URLLifetime)
	orDefault(&c.DefaultExpiryDays, d.DefaultExpiryDays)
	orDefault(&c.ReleaseBatch, d.ReleaseBatch)
	return c
}

// MaxPackageLifetime bounds a package's expiry, so that its token (valid
// until the expiry plus tokenMargin) stays within MaxSignatureLifetime.
const MaxPackageLifetime = 365 * 24 * time.Hour

// tokenMargin keeps a package token valid a little past the package's
// expiry, so a client finishing at the last minute is not cut off by
// clock skew; the package's own state still decides what it may do.
const tokenMargin = 24 * time.Hour

// PackageView is a package as a caller sees it; AccessToken is set only for
// callers allowed to manage the package.
type PackageView struct {
	Package
	AccessToken string
}

// CreatePackageRequest is the body of POST /v1/teams/{id}/packages.
type CreatePackageRequest struct {
	Name        string
	Description string
	Recipients  []string
	Password    string
	AccessLimit *int
	Expiry      time.Time // zero: the team's default
	TeamspaceID string
}

// packageToken signs the full-level token of a package for userID.
func (s *Service) packageToken(pk *Package, userID string) string {
	exp := pk.Expiry.Add(tokenMargin)
	if limit := s.now().Add(MaxSignatureLifetime); exp.After(limit) {
		exp = limit
	}
	return s.keys.SignToken(Claims{Typ: "package", Sub: pk.ID, Lvl: "f", UID: userID, Exp: exp.Unix(), Iat: s.now().Unix()})
}

// CreatePackage makes a team package; the answer carries its token.
// Owner, admins, integration managers and members may (ActPackageCreate).
func (s *Service) CreatePackage(ctx context.Context, p *Principal, teamID string, req CreatePackageRequest) (*PackageView, error) {
	const op = "package.create"
	name, err := CheckName(op, "name", req.Name)
	if err != nil {
		return nil, err
	}
	if err := CheckText(op, "description", req.Description, MaxDescriptionLen); err != nil {
		return nil, err
	}
	recipients := make([]string, 0, len(req.Recipients))
	for _, r := range req.Recipients {
		e, err := NormalizeEmail(op, "recipients", r)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(recipients, e) {
			recipients = append(recipients, e)
		}
	}
	if len(req.Password) > MaxPasswordLen {
		return nil, Invalidf(op, "password", "password must be at most %d bytes long", MaxPasswordLen)
	}
	if req.AccessLimit != nil && *req.AccessLimit < 0 {
		return nil, Invalidf(op, "access_limit", "access_limit must be 0 (no limit) or more")
	}
	now := s.now()
	if !req.Expiry.IsZero() {
		if !req.Expiry.After(now) {
			return nil, Invalidf(op, "expiry", "expiry must be in the future")
		}
		if req.Expiry.After(now.Add(MaxPackageLifetime)) {
			return nil, Invalidf(op, "expiry", "expiry must be at most %d days from now", int(MaxPackageLifetime.Hours()/24))
		}
	}
	var pwHash string
	if req.Password != "" {
		// Hashed before the transaction: it is slow and must not be redone
		// on a conflict retry.
		if pwHash, err = s.hasher.Hash(ctx, req.Password); err != nil {
			return nil, Wrap(op, err)
		}
	}
	var out PackageView
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActPackageCreate)
		if err != nil {
			return err
		}
		if max := a.team.MaxEmailRecipients; max > 0 && len(recipients) > max {
			return Invalidf(op, "recipients", "a package may have at most %d recipients in this team (max_email_recipients); got %d", max, len(recipients))
		}
		if req.TeamspaceID != "" {
			sp, err := tx.Teamspace(req.TeamspaceID)
			if Is(err, NotFound) || (err == nil && sp.TeamID != teamID) {
				return Invalidf(op, "teamspace_id", "teamspace_id %q is not a teamspace of this team", req.TeamspaceID)
			}
			if err != nil {
				return err
			}
		}
		expiry, custom := req.Expiry, true
		if expiry.IsZero() {
			days := a.team.CustomExpiryDefault
			if days <= 0 {
				days = s.uploads.DefaultExpiryDays
			}
			expiry, custom = now.Add(time.Duration(days)*24*time.Hour), false
		}
		limit := 0 // no limit, unless the team sets a default
		if a.team.DownloadLimitEnabled {
			limit = a.team.DownloadLimitDefault
		}
		if req.AccessLimit != nil {
			limit = *req.AccessLimit
		}
		pk := &Package{ID: NewID(), TeamID: teamID, Name: name, Description: req.Description, Sender: p.User.Email,
			CreatorUserID: p.User.ID, Recipients: recipients, PasswordHash: pwHash, AccessLimit: limit,
			TeamspaceID: req.TeamspaceID, State: PackageNew, Expiry: expiry, CustomExpiry: custom,
			CreatedAt: now, UpdatedAt: now}
		act := &Activity{ID: NewID(), TeamID: teamID, Type: ActivityUpload, PackageID: pk.ID, TeamspaceID: pk.TeamspaceID,
			Email: p.User.Email, ClientIP: p.ClientIP}
		s.transition(act, StatePending)
		if err := tx.PutActivity(act); err != nil {
			return err
		}
		pk.ActivityID = act.ID
		if err := tx.PutPackage(pk); err != nil {
			return err
		}
		if err := s.fireWebhooks(tx, HookPackageCreated, pk, nil); err != nil {
			return err
		}
		out = PackageView{Package: *pk, AccessToken: s.packageToken(pk, p.User.ID)}
		return s.event(tx, p, Event{TeamID: teamID, Type: EvPackageCreated, TargetID: pk.ID, Details: map[string]string{"name": name}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return &out, nil
}

// PackageQuery selects packages of a team.
type PackageQuery struct {
	States []PackageState // empty: finalized and expired (MASV's default)
	Page   Page           // Sort: name, created_at, size, usage_total_bytes, expiry, sender, status, teamspace_id (- for descending)
	// MASV's filters; zero values filter nothing.
	Name           string    // case-insensitive substring of the name
	Sender         string    // case-insensitive substring of the sender's email
	Teamspaces     []string  // teamspace ids
	CreatedAtStart time.Time // created at or after
	CreatedAtEnd   time.Time // created at or before
	ExpiryStart    time.Time // expiring at or after
	ExpiryEnd      time.Time // expiring at or before
	// Inbox lists the packages received through portals instead of the
	// team's own; Portal keeps those of the portal with that name
	// (case-insensitive).
	Inbox  bool
	Portal string
}

// match reports whether pk passes q's filters (not its states).
func (q *PackageQuery) match(pk *Package) bool {
	if q.Name != "" && !strings.Contains(strings.ToLower(pk.Name), strings.ToLower(q.Name)) {
		return false
	}
	if q.Sender != "" && !strings.Contains(strings.ToLower(pk.Sender), strings.ToLower(q.Sender)) {
		return false
	}
	if len(q.Teamspaces) > 0 && !slices.Contains(q.Teamspaces, pk.TeamspaceID) {
		return false
	}
	if !q.CreatedAtStart.IsZero() && pk.CreatedAt.Before(q.CreatedAtStart) ||
		!q.CreatedAtEnd.IsZero() && pk.CreatedAt.After(q.CreatedAtEnd) ||
		!q.ExpiryStart.IsZero() && pk.Expiry.Before(q.ExpiryStart) ||
		!q.ExpiryEnd.IsZero() && pk.Expiry.After(q.ExpiryEnd) {
		return false
	}
	return true
}

// canReadPackage is the rule of package visibility: owner and admins
// read every package of the team (ActPackageReadAny), everyone else the
// packages they created. A package received through a portal follows its
// portal instead (portalReader): a private portal's packages are read by
// the members on its access list only; a portal in a teamspace's by the
// owner, admins and the teamspace's members; any other portal's by the
// whole team but guests (the team's inbox).
func canReadPackage(pr *portalReader, a *access, p *Principal, pk *Package) bool {
	if pk.PortalID == "" || pr == nil {
		return Allowed(a.m.Role, ActPackageReadAny) || pk.CreatorUserID == p.User.ID
	}
	pt, sp := pr.rules(pk.PortalID)
	manager := Allowed(a.m.Role, ActPackageReadAny) || pk.CreatorUserID == p.User.ID
	switch {
	case pt == nil: // the portal was deleted: its rules cannot widen anything
		if !manager && pk.TeamspaceID != "" {
			sp := pr.space(pk.TeamspaceID)
			return sp != nil && slices.Contains(sp.MemberIDs, a.m.ID)
		}
		return manager
	case pt.AccessLevel == PortalPrivate:
		return slices.Contains(pt.AccessList, a.m.ID)
	case manager:
		return true
	case sp != nil:
		return slices.Contains(sp.MemberIDs, a.m.ID)
	}
	return a.m.Role != RoleGuest
}

// portalReader loads the portals (and their teamspaces) that received
// packages come from, once each, for canReadPackage.
type portalReader struct {
	tx      Tx
	portals map[string]*Portal
	spaces  map[string]*Teamspace
}

func newPortalReader(tx Tx) *portalReader {
	return &portalReader{tx: tx, portals: map[string]*Portal{}, spaces: map[string]*Teamspace{}}
}

// rules returns a portal and its teamspace (nil when gone or none).
func (r *portalReader) rules(id string) (*Portal, *Teamspace) {
	pt, ok := r.portals[id]
	if !ok {
		pt, _ = r.tx.Portal(id)
		r.portals[id] = pt
	}
	if pt == nil || pt.TeamspaceID == "" {
		return pt, nil
	}
	return pt, r.space(pt.TeamspaceID)
}

// space returns a teamspace, nil when gone.
func (r *portalReader) space(id string) *Teamspace {
	sp, ok := r.spaces[id]
	if !ok {
		sp, _ = r.tx.Teamspace(id)
		r.spaces[id] = sp
	}
	return sp
}

// Packages lists a team's packages the caller may see (canReadPackage).
func (s *Service) Packages(ctx context.Context, p *Principal, teamID string, q PackageQuery) ([]PackageView, int, error) {
	const op = "package.list"
	key := strings.TrimPrefix(q.Page.Sort, "-")
	switch key {
	case "", "name", "created_at", "size", "usage_total_bytes", "expiry", "sender", "status", "teamspace_id":
	default:
		return nil, 0, Invalidf(op, "sort", "sort %q is not one of name, created_at, size, usage_total_bytes, expiry, sender, status, teamspace_id (prefix - for descending)", q.Page.Sort)
	}
	if err := checkPage(op, q.Page); err != nil {
		return nil, 0, err
	}
	states := q.States
	if len(states) == 0 {
		states = []PackageState{PackageFinalized, PackageExpired}
	}
	for _, st := range states {
		switch st {
		case PackageNew, PackageFinalized, PackageExpired, PackageArchived:
		default:
			return nil, 0, Invalidf(op, "status", "status %q is not one of new, finalized, expired, archived", st)
		}
	}
	var out []PackageView
	var total int
	err := s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamRead)
		if err != nil {
			return err
		}
		all, err := tx.TeamPackages(teamID)
		if err != nil {
			return err
		}
		var vis []*Package
		pr := newPortalReader(tx)
		for _, pk := range all {
			// Sent packages and received ones (the inbox) are two lists.
			if q.Inbox != (pk.PortalID != "") || (q.Portal != "" && !pr.portalNamed(pk.PortalID, q.Portal)) {
				continue
			}
			if slices.Contains(states, pk.State) && q.match(pk) && canReadPackage(pr, a, p, pk) {
				vis = append(vis, pk)
			}
		}
		desc := strings.HasPrefix(q.Page.Sort, "-")
		slices.SortStableFunc(vis, func(x, y *Package) int {
			c := strings.Compare(x.ID, y.ID)
			switch key {
			case "name":
				c = strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name))
			case "size", "usage_total_bytes":
				c = cmpInt(x.Size, y.Size)
			case "expiry":
				c = x.Expiry.Compare(y.Expiry)
			case "sender":
				c = strings.Compare(strings.ToLower(x.Sender), strings.ToLower(y.Sender))
			case "status":
				c = strings.Compare(string(x.State), string(y.State))
			case "teamspace_id":
				c = strings.Compare(x.TeamspaceID, y.TeamspaceID)
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
		out = []PackageView{}
		for _, pk := range pageOf(vis, q.Page) {
			out = append(out, PackageView{Package: *pk})
		}
		return nil
	})
	return out, total, Wrap(op, err)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// GetPackage returns one package of the team with its access token (the
// caller may read it only if they may manage it: canReadPackage).
func (s *Service) GetPackage(ctx context.Context, p *Principal, teamID, packageID string) (*PackageView, error) {
	const op = "package.get"
	var out PackageView
	err := s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamRead)
		if err != nil {
			return err
		}
		pk, err := tx.Package(packageID)
		if Is(err, NotFound) || (err == nil && pk.TeamID != teamID) {
			return E(op, NotFound, "package %s not found in team %s", packageID, teamID)
		}
		if err != nil {
			return err
		}
		if !canReadPackage(newPortalReader(tx), a, p, pk) {
			if pk.PortalID != "" {
				return E(op, Forbidden, "this package came through a portal whose packages you may not read (its teamspace or access list)")
			}
			return E(op, Forbidden, "your role in this team (%s) lets you read only the packages you created", a.m.Role.Name())
		}
		out = PackageView{Package: *pk}
		if pk.State == PackageNew || pk.State == PackageFinalized {
			out.AccessToken = s.packageToken(pk, p.User.ID)
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// PackageAuth is what a package-token route presents.
type PackageAuth struct {
	Token string
	// OtherCredential is set when the request carried X-API-KEY or
	// X-User-Token instead: MASV never accepts those on package routes.
	OtherCredential bool
}

// tokenNeed is what a package route needs of a package token's level:
// "f" (full) is the package's own token, "p" a portal sender's (uploads
// into the package, nothing else), "d" a download token from a link.
type tokenNeed int

const (
	needRead   tokenNeed = iota // any level (listing; downloads decide further)
	needUpload                  // f or p: add files, upload, finalize
	needFull                    // f: links, expiry, changes, deletion
)

// packageFor checks a package token for packageID at the level need asks
// and returns the package. 401 without a valid token, 403 for a token of
// another package or of too low a level, 404 for an unknown package.
func (s *Service) packageFor(tx Tx, op string, auth PackageAuth, packageID string, need tokenNeed) (*Package, *Claims, error) {
	if auth.Token == "" {
		if auth.OtherCredential {
			return nil, nil, E(op, Unauthenticated, "API keys and user tokens do not work on package routes: send the package's access_token as X-Package-Token (GET /v1.1/teams/{team_id}/packages/{package_id} returns it)")
		}
		return nil, nil, E(op, Unauthenticated, "authentication required: send the package's access_token as X-Package-Token")
	}
	c, err := s.keys.ParseToken(auth.Token, "package", s.now())
	if err != nil {
		return nil, nil, E(op, Unauthenticated, "the package token is not valid or has expired")
	}
	if c.Sub != packageID {
		return nil, nil, E(op, Forbidden, "this package token belongs to another package")
	}
	switch {
	case need == needRead || c.Lvl == "f" || (need == needUpload && c.Lvl == "p"):
	case c.Lvl == "p":
		return nil, nil, E(op, Forbidden, "a portal sender's token uploads into the package; the studio manages it")
	case c.Lvl == "d":
		return nil, nil, E(op, Forbidden, "this package token allows downloads only")
	default:
		return nil, nil, E(op, Forbidden, "this package token does not allow this")
	}
	pk, err := tx.Package(packageID)
	if Is(err, NotFound) {
		return nil, nil, E(op, NotFound, "package %s not found", packageID)
	}
	if err != nil {
		return nil, nil, err
	}
	return pk, c, nil
}

// checkOpen refuses changes to a package that is no longer being uploaded.
func (s *Service) checkOpen(op string, pk *Package) error {
	switch {
	case pk.State == PackageArchived:
		return E(op, Gone, "package %s was deleted", pk.ID)
	case pk.State == PackageExpired || !s.now().Before(pk.Expiry):
		return E(op, Gone, "package %s has expired", pk.ID)
	case pk.State == PackageFinalized:
		return E(op, Conflict, "package %s is finalized: a finalized package is locked and takes no more files", pk.ID)
	}
	return nil
}

// openPackage is packageFor at the full level, of a package that still
// takes files (checkOpen).
func (s *Service) openPackage(tx Tx, op string, auth PackageAuth, packageID string) (*Package, error) {
	pk, _, err := s.packageFor(tx, op, auth, packageID, needUpload)
	if err != nil {
		return nil, err
	}
	if err := s.checkOpen(op, pk); err != nil {
		return nil, err
	}
	return pk, nil
}

// teamKey returns the block key of pk's team.
func teamKey(tx Tx, pk *Package) (TeamKey, error) {
	team, err := tx.Team(pk.TeamID)
	if err != nil {
		return TeamKey{}, err
	}
	return TeamKeyOf(team), nil
}

// DeletePackage archives a package (package token, full level) and
// releases every block reference of its files and of its unfinished
// uploads' parts. The package turns archived in one transaction (from then
// on nothing can add to it); the references are then released in
// transactions of at most UploadConfig.ReleaseBatch blocks, each recording
// its progress in the records it releases from, because one Badger
// transaction holds only some ten thousand block entries (a package of
// tens of GiB). Deleting an archived package again finishes any release
// an earlier call left undone (a crash, say).
func (s *Service) DeletePackage(ctx context.Context, auth PackageAuth, packageID string) error {
	const op = "package.delete"
	var tk TeamKey
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, c, err := s.packageFor(tx, op, auth, packageID, needFull)
		if err != nil {
			return err
		}
		if tk, err = teamKey(tx, pk); err != nil {
			return err
		}
		if pk.State == PackageArchived {
			return nil
		}
		if pk.State == PackageNew {
			if err := s.moveActivity(tx, pk.ActivityID, StateCancelled); err != nil {
				return err
			}
		}
		pk.State, pk.UpdatedAt = PackageArchived, s.now()
		if err := tx.PutPackage(pk); err != nil {
			return err
		}
		return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvPackageArchived, TargetID: pk.ID, ActorUserID: c.UID, Via: "package_token"})
	})
	if err != nil {
		return Wrap(op, err)
	}
	s.releasePackage(packageID) // the space reservations of its files
	return Wrap(op, s.releasePackageRefs(ctx, tk, packageID))
}

// fileBlocks returns the blocks of a finalized file in file order: the
// blocks of the parts named by f.PartsID, concatenated in part order, or
// f.Blocks for a file finalized before PartsID existed.
func fileBlocks(tx Tx, f *File) ([]Block, error) {
	if f.PartsID == "" {
		return f.Blocks, nil
	}
	parts, err := tx.UploadParts(f.PartsID)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, pt := range parts {
		n += len(pt.Blocks)
	}
	blocks := make([]Block, 0, n)
	for _, pt := range parts {
		blocks = append(blocks, pt.Blocks...)
	}
	return blocks, nil
}

// releaseSome releases up to budget block references held by f (whole
// parts of its open upload first, then whole parts of its finalized block
// lists, then the file's own blocks from the end) and records what is
// left. A part counts its blocks (at least one), and the first part is
// released whole even beyond budget, so every call makes progress. It
// returns how many it released.
func (s *Service) releaseSome(tx Tx, tk TeamKey, f *File, budget int) (int, error) {
	done, changed := 0, false
	for _, id := range []*string{&f.UploadID, &f.PartsID} {
		if *id == "" {
			continue
		}
		parts, err := tx.UploadParts(*id)
		if err != nil {
			return 0, err
		}
		for _, pt := range parts {
			if done > 0 && done+len(pt.Blocks) > budget {
				// The file record still names the upload.
				if changed {
					return done, tx.PutFile(f)
				}
				return done, nil
			}
			if err := s.chunks.Release(tx, tk, pt.Blocks); err != nil {
				return 0, err
			}
			if err := tx.DeletePart(pt.UploadID, pt.PartNumber); err != nil {
				return 0, err
			}
			done += max(len(pt.Blocks), 1)
		}
		*id, changed = "", true
	}
	if n := min(budget-done, len(f.Blocks)); n > 0 {
		rest := len(f.Blocks) - n
		if err := s.chunks.Release(tx, tk, f.Blocks[rest:]); err != nil {
			return 0, err
		}
		f.Blocks = f.Blocks[:rest:rest]
		done += n
		changed = true
	}
	if changed {
		return done, tx.PutFile(f)
	}
	return 0, nil
}

// dropUpload releases and deletes every part of f's open upload and
// forgets the upload.
func (s *Service) dropUpload(tx Tx, tk TeamKey, f *File) error {
	if f.UploadID == "" {
		return nil
	}
	parts, err := tx.UploadParts(f.UploadID)
	if err != nil {
		return err
	}
	for _, pt := range parts {
		if err := s.chunks.Release(tx, tk, pt.Blocks); err != nil {
			return err
		}
		if err := tx.DeletePart(pt.UploadID, pt.PartNumber); err != nil {
			return err
		}
	}
	f.UploadID = ""
	return nil
}

// FinalizePackage locks a package once every file is finalized.
func (s *Service) FinalizePackage(ctx context.Context, auth PackageAuth, packageID string) (*PackageView, error) {
	const op = "package.finalize"
	// A portal package's form response is rendered and stored first (the
	// chunk store's writes stay outside the transaction), then recorded
	// as files in the finalize transaction.
	var (
		delivered []deliveredFile
		email     string
	)
	var pre *Package
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		pre, _, err = s.packageFor(tx, op, auth, packageID, needUpload)
		return err
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	if pre.FormDataID != "" && pre.State == PackageNew {
		var (
			tk    TeamKey
			files []*File
		)
		if err := s.store.View(ctx, func(tx Tx) error {
			var err error
			if tk, err = teamKey(tx, pre); err != nil {
				return err
			}
			files, err = tx.PackageFiles(pre.ID)
			return err
		}); err != nil {
			return nil, Wrap(op, err)
		}
		if delivered, email, err = s.renderDelivery(ctx, tk, pre, files); err != nil {
			return nil, Wrap(op, err)
		}
	}
	var out PackageView
	err = s.store.Update(ctx, func(tx Tx) error {
		pk, c, err := s.packageFor(tx, op, auth, packageID, needUpload)
		if err != nil {
			return err
		}
		if pk.State == PackageFinalized { // a retried finalize
			out = PackageView{Package: *pk}
			return nil
		}
		if err := s.checkOpen(op, pk); err != nil {
			return err
		}
		files, err := tx.PackageFiles(pk.ID)
		if err != nil {
			return err
		}
		if pk.PortalID != "" {
			n := 0
			for _, f := range files {
				if f.State == FileFinalized {
					n++
				}
			}
			if err := s.checkPortalPackage(tx, op, pk, n); err != nil {
				return err
			}
		}
		var open []string
		for _, f := range files {
			if f.State != FileFinalized {
				open = append(open, fullName(f))
			}
		}
		if len(open) > 0 {
			shown := open
			if len(shown) > 10 {
				shown = shown[:10]
			}
			return E(op, Conflict, "%d file(s) are not finalized yet: %s; finalize them (POST /v1/packages/%s/files/{file_id}/finalize) or delete them first",
				len(open), strings.Join(shown, ", "), pk.ID)
		}
		if len(delivered) > 0 {
			tk, err := teamKey(tx, pk)
			if err != nil {
				return err
			}
			if err := s.addDelivered(tx, tk, pk, delivered); err != nil {
				return err
			}
		}
		pk.FormEmailBody = email
		now := s.now()
		pk.State, pk.FinalizedAt, pk.UpdatedAt = PackageFinalized, now, now
		if err := tx.PutPackage(pk); err != nil {
			return err
		}
		if err := s.moveActivity(tx, pk.ActivityID, StateComplete); err != nil {
			return err
		}
		// Links made while the package was new are active from now on
		// (Link.Active); each recipient gets one, and the mails go out.
		if err := s.recipientLinks(tx, pk, c.UID); err != nil {
			return err
		}
		if err := s.finalizeMails(tx, pk); err != nil {
			return err
		}
		if err := s.fireWebhooks(tx, HookPackageFinalized, pk, nil); err != nil {
			return err
		}
		out = PackageView{Package: *pk}
		return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvPackageFinalized, TargetID: pk.ID, ActorUserID: c.UID, Via: "package_token"})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return &out, nil
}

func fullName(f *File) string {
	if f.Path == "" {
		return f.Name
	}
	return f.Path + "/" + f.Name
}

// PackageUpdate changes a package's text (PUT /v1/packages/{id}); nil
// fields stay as they are.
type PackageUpdate struct {
	Name        *string
	Description *string
}

// UpdatePackage changes a package's name or description (package token,
// full level) while it is new or finalized.
func (s *Service) UpdatePackage(ctx context.Context, auth PackageAuth, packageID string, up PackageUpdate) (*PackageView, error) {
	const op = "package.update"
	if up.Name != nil {
		n, err := CheckName(op, "name", *up.Name)
		if err != nil {
			return nil, err
		}
		up.Name = &n
	}
	if up.Description != nil {
		if err := CheckText(op, "description", *up.Description, MaxDescriptionLen); err != nil {
			return nil, err
		}
	}
	return s.changePackage(ctx, op, auth, packageID, func(pk *Package) error {
		set(&pk.Name, up.Name)
		set(&pk.Description, up.Description)
		return nil
	})
}

// SetPackageExpiry moves a package's expiry (PUT /v1/packages/{id}/expiry;
// package token, full level). haul keeps no package forever: unlimited
// storage is refused, and an expiry is at most MaxPackageLifetime ahead.
// The package's existing tokens keep their own expiry; GET
// /v1.1/teams/{team}/packages/{id} gives a fresh one.
func (s *Service) SetPackageExpiry(ctx context.Context, auth PackageAuth, packageID string, expiry time.Time, unlimited bool) (*PackageView, error) {
	const op = "package.expiry"
	now := s.now()
	switch {
	case unlimited:
		return nil, Invalidf(op, "unlimited_storage", "unlimited storage is not offered: give an expiry at most %d days ahead", int(MaxPackageLifetime.Hours()/24))
	case expiry.IsZero():
		return nil, Invalidf(op, "expiry", "expiry is required")
	case !expiry.After(now):
		return nil, Invalidf(op, "expiry", "expiry must be in the future")
	case expiry.After(now.Add(MaxPackageLifetime)):
		return nil, Invalidf(op, "expiry", "expiry must be at most %d days from now", int(MaxPackageLifetime.Hours()/24))
	}
	return s.changePackage(ctx, op, auth, packageID, func(pk *Package) error {
		pk.Expiry, pk.CustomExpiry = expiry.UTC().Truncate(time.Millisecond), true
		return nil
	})
}

// changePackage applies change to a package that is new or finalized.
func (s *Service) changePackage(ctx context.Context, op string, auth PackageAuth, packageID string, change func(*Package) error) (*PackageView, error) {
	var out PackageView
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, _, err := s.packageFor(tx, op, auth, packageID, needFull)
		if err != nil {
			return err
		}
		switch {
		case pk.State == PackageArchived:
			return E(op, Gone, "package %s was deleted", pk.ID)
		case pk.State == PackageExpired || !s.now().Before(pk.Expiry):
			return E(op, Gone, "package %s has expired", pk.ID)
		}
		if err := change(pk); err != nil {
			return err
		}
		pk.UpdatedAt = s.now()
		if err := tx.PutPackage(pk); err != nil {
			return err
		}
		out = PackageView{Package: *pk}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}
