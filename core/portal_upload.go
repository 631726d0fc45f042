package core

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"haul/core/form"
)

// PortalPackageRequest is the body of POST /v1/portals/{id}/packages.
type PortalPackageRequest struct {
	Name          string
	Sender        string
	Description   string
	AccessCode    string // the body's access_code or the X-Access-Code header
	FormDataID    string
	TermsAccepted bool
	ClientIP      string
}

// Limits on access-code guesses, as for link passwords, and on packages
// created through a portal by one address.
const (
	portalGuessBurst       = 5
	portalGuessPerMinute   = 1
	portalPackageBurst     = 30
	portalPackagePerMinute = 10
)

// CreatePortalPackage creates a package through a portal for an outside
// sender (p nil) or, on a portal that requires it, a logged-in member of
// its team. Every rule that can be checked before any byte moves is
// checked here: the portal accepts uploads, the access code (401, rate
// limited per portal and address), the terms, the name's format, the
// sender's address and the form's response (valid, of this portal's form,
// unused). The answer's token is a portal sender's (level p): it adds
// files, uploads and finalizes, and nothing else.
func (s *Service) CreatePortalPackage(ctx context.Context, p *Principal, portalID string, req PortalPackageRequest) (*PackageView, error) {
	const op = "portal.package"
	var pt *Portal
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		pt, err = tx.Portal(portalID)
		return err
	})
	if Is(err, NotFound) {
		return nil, E(op, NotFound, "portal %s not found", portalID)
	}
	if err != nil {
		return nil, Wrap(op, err)
	}
	if err := s.portalAccepts(op, pt); err != nil {
		return nil, err
	}
	// Each package can make haul send mail (a receipt, notifications): an
	// address creates only so many.
	if ok, wait := s.portalPackages.Allow(portalID+"|"+ClientKey(req.ClientIP), s.now()); !ok {
		secs := int(wait/time.Second) + 1
		return nil, &Error{Op: op, Kind: RateLimited, RetryAfter: secs,
			Msg: "too many packages from your address through this portal; wait " + time.Duration(secs*int(time.Second)).String() + " and try again"}
	}
	if pt.UserAuthRequired && p == nil {
		return nil, E(op, Unauthenticated, "this portal takes uploads from the team's members only: log in (X-User-Token or X-API-KEY)")
	}
	if pt.AccessCodeHash != "" {
		limits := []guessLimit{{s.portalGuesses, portalID + "|" + ClientKey(req.ClientIP)}}
		if err := s.checkGuess(ctx, op, limits, pt.AccessCodeHash, req.AccessCode,
			"this portal needs an access code: send it as access_code or X-Access-Code", "wrong access code for this portal"); err != nil {
			return nil, err
		}
	}
	if pt.TermsEnabled && !req.TermsAccepted {
		return nil, Invalidf(op, "terms_accepted", "accept the portal's terms (%s) first: send terms_accepted: true", pt.Terms.Title)
	}
	var out PackageView
	err = s.store.Update(ctx, func(tx Tx) error {
		pt, err := tx.Portal(portalID)
		if err != nil {
			return err
		}
		team, err := tx.Team(pt.TeamID)
		if err != nil {
			return err
		}
		var creator string
		if p != nil {
			if !pt.UserAuthRequired {
				p = nil // an outside sender; a credential sent anyway is ignored
			} else if _, err := s.authorize(tx, op, p, pt.TeamID, ActTeamRead); err != nil {
				return E(op, Forbidden, "this portal takes uploads from the members of its team only")
			} else {
				creator = p.User.ID
			}
		}
		name, sender, desc := req.Name, req.Sender, req.Description
		var resp *FormResponse
		switch {
		case pt.FormID != "" && req.FormDataID == "":
			return Invalidf(op, "form_data_id", "this portal has a form: answer it first (POST /v1/portals/%s/form/responses) and send its id as form_data_id", pt.ID)
		case req.FormDataID != "":
			resp, err = tx.FormResponse(req.FormDataID)
			if Is(err, NotFound) || (err == nil && resp.PortalID != pt.ID) {
				return Invalidf(op, "form_data_id", "form_data_id %q is not a response to this portal's form", req.FormDataID)
			}
			if err != nil {
				return err
			}
			if resp.PackageID != "" {
				return Invalidf(op, "form_data_id", "this form response was used for another package already: answer the form again")
			}
			// The package fields the form asked for fill what the body
			// left out.
			for _, f := range resp.Definition.Fields {
				v, _ := resp.Values[f.Name].(string)
				switch {
				case f.Type == form.TypePackageName && name == "":
					name = v
				case f.Type == form.TypePackageDescription && desc == "":
					desc = v
				case f.Type == form.TypeSenderEmail && sender == "":
					sender = v
				}
			}
		}
		if sender == "" && p != nil {
			sender = p.User.Email
		}
		if sender == "" {
			return Invalidf(op, "sender", "sender (your email address) is required")
		}
		if sender, err = NormalizeEmail(op, "sender", sender); err != nil {
			return err
		}
		if name == "" {
			return Invalidf(op, "name", "name (the package's name) is required")
		}
		if name, err = CheckName(op, "name", name); err != nil {
			return err
		}
		if pt.NameFormatEnabled {
			re, err := compileNameFormat(pt.NameFormat.Value)
			if err != nil || !re.MatchString(name) {
				return Invalidf(op, "name", "the package name %q does not follow this portal's format: %s", name, pt.NameFormat.Label)
			}
		}
		if err := CheckText(op, "description", desc, MaxDescriptionLen); err != nil {
			return err
		}
		now := s.now()
		days := pt.CustomExpiryDays
		if days <= 0 {
			if days = team.CustomExpiryDefault; days <= 0 {
				days = s.uploads.DefaultExpiryDays
			}
		}
		limit := 0
		if team.DownloadLimitEnabled {
			limit = team.DownloadLimitDefault
		}
		pk := &Package{ID: NewID(), TeamID: pt.TeamID, Name: name, Description: desc, Sender: sender, CreatorUserID: creator,
			Recipients: slices.Clone(pt.Recipients), CCRecipients: slices.Clone(pt.CCRecipients), PasswordHash: pt.DownloadPasswordHash,
			AccessLimit: limit, TeamspaceID: pt.TeamspaceID, PortalID: pt.ID, State: PackageNew,
			Expiry: now.Add(time.Duration(days) * 24 * time.Hour), CreatedAt: now, UpdatedAt: now}
		if resp != nil {
			pk.FormDataID = resp.ID
			resp.PackageID = pk.ID
			if err := tx.PutFormResponse(resp); err != nil {
				return err
			}
		}
		act := &Activity{ID: NewID(), TeamID: pk.TeamID, Type: ActivityUpload, PackageID: pk.ID, TeamspaceID: pk.TeamspaceID,
			PortalID: pt.ID, Email: sender, ClientIP: req.ClientIP}
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
		exp := pk.Expiry.Add(tokenMargin)
		out = PackageView{Package: *pk, AccessToken: s.keys.SignToken(Claims{Typ: "package", Sub: pk.ID, Lvl: "p", Exp: exp.Unix(), Iat: now.Unix()})}
		return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvPortalPackageCreated, TargetID: pk.ID, ActorEmail: sender, ClientIP: req.ClientIP,
			Via: "portal", Details: map[string]string{"portal_id": pt.ID, "name": name}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return &out, nil
}

// guessLimit is one rate limit a guess is charged to.
type guessLimit struct {
	lim *Limiter
	key string
}

// checkGuess checks a secret (a link password, a portal access code)
// under rate limits: every attempt takes a token from each limit before
// the hash is checked, so parallel guesses cannot all pass, and a right
// answer (or none, or a busy hasher) gives them back. A limited caller is
// refused even with the right secret, so guessing cannot go on.
func (s *Service) checkGuess(ctx context.Context, op string, limits []guessLimit, hash, given, missing, wrong string) error {
	now := s.now()
	for i, l := range limits {
		if ok, wait := l.lim.Allow(l.key, now); !ok {
			for _, taken := range limits[:i] {
				taken.lim.Refund(taken.key)
			}
			return guessLimited(op, wait)
		}
	}
	counted := false
	defer func() {
		if !counted {
			for _, l := range limits {
				l.lim.Refund(l.key)
			}
		}
	}()
	if given == "" {
		return E(op, Unauthenticated, "%s", missing)
	}
	match, err := s.hasher.Check(ctx, hash, given)
	if err != nil {
		return Wrap(op, err)
	}
	if !match {
		counted = true
		return E(op, Unauthenticated, "%s", wrong)
	}
	return nil
}

// checkPortalFile applies a portal's rules to a file being added to a
// package received through it: the portal still accepts uploads, the file
// type, the file's declared size, the number of files and the package's
// size. files are the package's files (the new one not among them).
func (s *Service) checkPortalFile(op string, pt *Portal, files []*File, name string, size int64) error {
	if err := s.portalAccepts(op, pt); err != nil {
		return err
	}
	if pt.FileTypesEnabled && len(pt.FileTypes) > 0 {
		matched := fileTypeMatches(pt.FileTypes, name)
		if pt.FileTypesExclude && matched != "" {
			return Invalidf(op, "name", "%s: files of type %s are not accepted by this portal", name, matched)
		}
		if !pt.FileTypesExclude && matched == "" {
			return Invalidf(op, "name", "%s: this portal accepts only %s files", name, strings.Join(pt.FileTypes, ", "))
		}
	}
	if !pt.SizeRulesEnabled {
		return nil
	}
	if (pt.MaxFileSize > 0 || pt.MaxPackageSize > 0) && size < 0 {
		return Invalidf(op, "size", "this portal limits sizes: declare the file's size when adding it")
	}
	if pt.MaxFileSize > 0 && size > pt.MaxFileSize {
		return &Error{Op: op, Kind: TooLarge, Field: "size", Msg: fmt.Sprintf("%s is %s; this portal accepts files of at most %s", name, humanSize(size), humanSize(pt.MaxFileSize))}
	}
	n, total := 0, size
	for _, f := range files {
		if f.State == FileDeleting {
			continue
		}
		n++
		total += max(f.Size, 0)
	}
	if pt.MaxFileCount > 0 && n+1 > pt.MaxFileCount {
		return Invalidf(op, "name", "this portal accepts at most %d files in a package; this package has %d", pt.MaxFileCount, n)
	}
	if pt.MaxPackageSize > 0 && total > pt.MaxPackageSize {
		return &Error{Op: op, Kind: TooLarge, Field: "size", Msg: fmt.Sprintf("with %s the package would hold %s; this portal accepts packages of at most %s", name, humanSize(total), humanSize(pt.MaxPackageSize))}
	}
	return nil
}

// checkPortalPackage applies a portal's package-size rule at finalize,
// to the files' true sizes (a file declared without a size, or a rule
// tightened meanwhile).
func (s *Service) checkPortalPackage(tx Tx, op string, pk *Package, files int) error {
	// A received package carries files: an empty one would only make haul
	// mail its receipt and notifications to whatever address was given.
	if files == 0 {
		return E(op, Invalid, "add at least one file before finalizing")
	}
	pt, err := tx.Portal(pk.PortalID)
	if Is(err, NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if pt.SizeRulesEnabled && pt.MaxPackageSize > 0 && pk.Size > pt.MaxPackageSize {
		return &Error{Op: op, Kind: TooLarge, Msg: fmt.Sprintf("the package holds %s; this portal accepts packages of at most %s: remove files, then finalize again", humanSize(pk.Size), humanSize(pt.MaxPackageSize))}
	}
	return nil
}

// fileTypeMatches returns the listed type a file name ends with, compared
// case-insensitively after the dots and spaces Windows drops from the end
// ("clip.MOV", "setup.exe." and "a.tar.gz" match ".mov", ".exe" and
// ".gz" or ".tar.gz"); "" when none does.
func fileTypeMatches(types []string, name string) string {
	n := strings.ToLower(strings.TrimRight(name, ". "))
	for _, t := range types {
		if strings.HasSuffix(n, t) && len(n) > len(t) {
			return t
		}
	}
	return ""
}

// humanSize writes a byte count for people.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), ".0") + " " + string("KMGTPE"[exp]) + "iB"
}

// deliveredFile is a metadata file ready to be added at finalize.
type deliveredFile struct {
	name string
	in   *Ingested
	crc  uint32
	dig  Hash
}

// renderDelivery renders a portal package's form response in the form's
// file formats and stores the bytes in the chunk store (not yet
// committed), and renders the email body. Names taken by the sender's
// files are numbered.
func (s *Service) renderDelivery(ctx context.Context, tk TeamKey, pk *Package, taken []*File) ([]deliveredFile, string, error) {
	var resp *FormResponse
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		resp, err = tx.FormResponse(pk.FormDataID)
		return err
	}); err != nil {
		return nil, "", err
	}
	doc := form.Doc{FormName: resp.Definition.Name, PackageID: pk.ID, PackageName: pk.Name, Sender: pk.Sender,
		SubmittedAt: resp.CreatedAt, Fields: resp.Definition.Fields, Values: resp.Values}
	names := map[string]bool{}
	for _, f := range taken {
		if f.Path == "" && f.State != FileDeleting {
			names[strings.ToLower(f.Name)] = true
		}
	}
	var (
		out   []deliveredFile
		email string
	)
	for _, format := range resp.Definition.DeliveryFormats {
		name, data, err := form.Render(format, doc)
		if err != nil {
			return nil, "", E("form.deliver", Internal, "rendering %s: %v", format, err)
		}
		if format == form.FormatEmailBody {
			email = string(data)
			continue
		}
		ext := path.Ext(name)
		base := strings.TrimSuffix(name, ext)
		for k := 2; names[strings.ToLower(name)]; k++ {
			name = base + " (" + strconv.Itoa(k) + ")" + ext
		}
		names[strings.ToLower(name)] = true
		in, err := s.chunks.Ingest(ctx, tk, 0, bytes.NewReader(data))
		if err != nil {
			return nil, "", err
		}
		// The bytes are at hand (and the blocks not committed yet, so the
		// store would not find them): digest and CRC from the bytes.
		out = append(out, deliveredFile{name: name, in: in, crc: crc32.ChecksumIEEE(data), dig: Hash(blake3.Sum256(data))})
	}
	return out, email, nil
}

// addDelivered records the rendered metadata files in the package, in the
// finalize transaction: each a finalized file with one part holding its
// blocks (committed here).
func (s *Service) addDelivered(tx Tx, tk TeamKey, pk *Package, files []deliveredFile) error {
	now := s.now()
	for _, d := range files {
		if err := s.chunks.Commit(tx, tk, d.in); err != nil {
			return err
		}
		upload := NewID()
		f := &File{ID: NewID(), PackageID: pk.ID, TeamID: pk.TeamID, Kind: "file", Name: d.name, LastModified: now,
			Size: d.in.Size, ChunkSize: max(d.in.Size, 1), State: FileFinalized, Digest: d.dig, CRC32: d.crc, HasCRC: true,
			PartsID: upload, CreatedAt: now, FinalizedAt: now}
		pt := &Part{UploadID: upload, FileID: f.ID, PartNumber: 1, Size: d.in.Size, ETag: partETag(tk, d.in.Blocks), Blocks: d.in.Blocks}
		if err := tx.PutPart(pt); err != nil {
			return err
		}
		if err := tx.PutFile(f); err != nil {
			return err
		}
		pk.Size += f.Size
		pk.TotalFiles++
	}
	return nil
}
