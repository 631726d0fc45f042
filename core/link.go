package core

import (
	"context"
	"crypto/subtle"
	"net/url"
	"slices"
	"time"
)

// Link is a way into a finalized package for someone outside the team: a
// recipient's emailed link, or a direct-download link (no email). Opening
// it with its secret (and password, if any) hands out a download-level
// package token; each such token is one access, counted against
// AccessLimit the first time it obtains a file or zip URL. A disabled link
// is kept for history.
type Link struct {
	ID        string `json:"id"`
	PackageID string `json:"package_id"`
	TeamID    string `json:"team_id"`
	// Email is the recipient's address; empty for a direct-download link.
	Email string `json:"email"`
	// Secret is the download_secret of the share URL
	// ({public_url}/{id}?secret=...). It is kept (not hashed) because the
	// owner shares it again and the notifications mail it after finalize.
	Secret string `json:"secret"`
	// PasswordHash is the argon2id PHC string of the download password
	// (the link's own, else the package's); empty for none.
	PasswordHash string `json:"password_hash"`
	// AccessLimit is how many downloads may start through the link; 0 for
	// no limit. Accesses counts them.
	AccessLimit int `json:"access_limit"`
	Accesses    int `json:"accesses"`
	// Expiry is the link's own; zero means the package's. A link never
	// outlives its package (EffectiveExpiry).
	Expiry        time.Time `json:"expiry,omitzero"`
	Disabled      bool      `json:"disabled"`
	DisabledAt    time.Time `json:"disabled_at,omitzero"`
	Recipient     bool      `json:"recipient"` // made at finalize for a package recipient
	CreatorUserID string    `json:"creator_user_id"`
	// ActivityID names the link's link_generation activity.
	ActivityID string    `json:"activity_id"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	AccessedAt time.Time `json:"accessed_at,omitzero"`
	// NotifiedAt is when the link's mail was queued (once).
	NotifiedAt time.Time `json:"notified_at,omitzero"`
}

// EffectiveExpiry is when the link stops working: its own expiry, but
// never after its package's.
func (l *Link) EffectiveExpiry(pk *Package) time.Time {
	if l.Expiry.IsZero() || l.Expiry.After(pk.Expiry) {
		return pk.Expiry
	}
	return l.Expiry
}

// Active reports whether the link can be opened now as far as its state
// goes: not disabled, and its package finalized (links made while the
// package is new wait for finalize).
func (l *Link) Active(pk *Package) bool { return !l.Disabled && pk.State == PackageFinalized }

// ShareURL is the link's page, what a recipient is sent:
// {public_url}/{id}?secret=...
func (s *Service) ShareURL(l *Link) string {
	return s.linkBase + "/" + l.ID + "?secret=" + url.QueryEscape(l.Secret)
}

// LinkTx stores links, listed per package in id (creation) order.
type LinkTx interface {
	Link(id string) (*Link, error)
	PutLink(l *Link) error
	PackageLinks(packageID string) ([]*Link, error)
}

// LinkView is a link with its package, as the API shows it.
type LinkView struct {
	Link
	Package *Package
	Active  bool
	Expiry  time.Time // effective
}

func linkView(l *Link, pk *Package) LinkView {
	return LinkView{Link: *l, Package: pk, Active: l.Active(pk), Expiry: l.EffectiveExpiry(pk)}
}

// CreateLinkRequest is the body of POST /v1/packages/{id}/links.
type CreateLinkRequest struct {
	Email       string
	Password    string
	Expiry      time.Time // zero: the package's
	AccessLimit *int      // nil: the package's (itself the team's default)
}

// linkSecretBytes is the entropy of a download secret (256 bits).
const linkSecretBytes = 32

// CreateLink adds a link to a package (package token, full level) that is
// new or finalized. A link made while the package is new becomes active
// at finalize.
func (s *Service) CreateLink(ctx context.Context, auth PackageAuth, packageID string, req CreateLinkRequest) (*LinkView, error) {
	const op = "link.create"
	email := ""
	if req.Email != "" {
		e, err := NormalizeEmail(op, "email", req.Email)
		if err != nil {
			return nil, err
		}
		email = e
	}
	if len(req.Password) > MaxPasswordLen {
		return nil, Invalidf(op, "password", "password must be at most %d bytes long", MaxPasswordLen)
	}
	if req.AccessLimit != nil && *req.AccessLimit < 0 {
		return nil, Invalidf(op, "access_limit", "access_limit must be 0 (no limit) or more")
	}
	now := s.now()
	if !req.Expiry.IsZero() && !req.Expiry.After(now) {
		return nil, Invalidf(op, "expiry", "expiry must be in the future")
	}
	var pwHash string
	if req.Password != "" {
		var err error
		if pwHash, err = s.hasher.Hash(ctx, req.Password); err != nil {
			return nil, Wrap(op, err)
		}
	}
	var out LinkView
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, c, err := s.packageFor(tx, op, auth, packageID, needFull)
		if err != nil {
			return err
		}
		if err := s.checkLinkable(op, pk); err != nil {
			return err
		}
		if !req.Expiry.IsZero() && req.Expiry.After(pk.Expiry) {
			return Invalidf(op, "expiry", "a link cannot outlive its package: expiry must be at most the package's (%s)", pk.Expiry.Format(time.RFC3339))
		}
		l := &Link{ID: NewID(), PackageID: pk.ID, TeamID: pk.TeamID, Email: email, Secret: RandomToken(linkSecretBytes),
			PasswordHash: pwHash, AccessLimit: pk.AccessLimit, Expiry: req.Expiry.UTC(), CreatorUserID: c.UID,
			CreatedAt: now, UpdatedAt: now}
		if l.PasswordHash == "" {
			l.PasswordHash = pk.PasswordHash
		}
		if req.AccessLimit != nil {
			l.AccessLimit = *req.AccessLimit
		}
		if err := s.addLink(tx, pk, l); err != nil {
			return err
		}
		if l.Email != "" && pk.State == PackageFinalized { // else at finalize
			base, _, err := s.packageMailData(tx, pk)
			if err != nil {
				return err
			}
			if err := s.mailLink(tx, pk, l, base); err != nil {
				return err
			}
		}
		out = linkView(l, pk)
		return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvLinkCreated, TargetID: l.ID, ActorUserID: c.UID, Via: "package_token",
			Details: map[string]string{"package_id": pk.ID, "email": l.Email}})
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return &out, nil
}

// checkLinkable refuses links on packages that cannot be downloaded.
func (s *Service) checkLinkable(op string, pk *Package) error {
	switch pk.State {
	case PackageArchived:
		return E(op, Gone, "package %s was deleted", pk.ID)
	case PackageExpired:
		return E(op, Gone, "package %s has expired: its files were deleted", pk.ID)
	}
	if !pk.Expiry.After(s.now()) {
		return E(op, Gone, "package %s has expired", pk.ID)
	}
	return nil
}

// addLink stores a new link with its link_generation activity.
func (s *Service) addLink(tx Tx, pk *Package, l *Link) error {
	act := &Activity{ID: NewID(), TeamID: pk.TeamID, Type: ActivityLink, PackageID: pk.ID, LinkID: l.ID,
		TeamspaceID: pk.TeamspaceID, PortalID: pk.PortalID, Email: l.Email}
	s.transition(act, StatePending)
	if err := tx.PutActivity(act); err != nil {
		return err
	}
	l.ActivityID = act.ID
	return tx.PutLink(l)
}

// recipientLinks makes, at finalize, one link per recipient of the package
// that has none yet (with the package's password and limit), ready for
// the notifications to mail.
func (s *Service) recipientLinks(tx Tx, pk *Package, creatorID string) error {
	if len(pk.Recipients) == 0 {
		return nil
	}
	links, err := tx.PackageLinks(pk.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, r := range pk.Recipients {
		if slices.ContainsFunc(links, func(l *Link) bool { return l.Recipient && l.Email == r }) {
			continue
		}
		l := &Link{ID: NewID(), PackageID: pk.ID, TeamID: pk.TeamID, Email: r, Secret: RandomToken(linkSecretBytes),
			PasswordHash: pk.PasswordHash, AccessLimit: pk.AccessLimit, Recipient: true, CreatorUserID: creatorID,
			CreatedAt: now, UpdatedAt: now}
		if err := s.addLink(tx, pk, l); err != nil {
			return err
		}
	}
	return nil
}

// Links lists a package's links (package token, full level), disabled
// ones included.
func (s *Service) Links(ctx context.Context, auth PackageAuth, packageID string) ([]LinkView, error) {
	const op = "link.list"
	var out []LinkView
	err := s.store.View(ctx, func(tx Tx) error {
		pk, _, err := s.packageFor(tx, op, auth, packageID, needFull)
		if err != nil {
			return err
		}
		links, err := tx.PackageLinks(pk.ID)
		for _, l := range links {
			out = append(out, linkView(l, pk))
		}
		return err
	})
	return out, Wrap(op, err)
}

// DisableLink turns a link off (package token, full level): opening it
// answers 410 and its download tokens obtain no new URL. The record stays.
func (s *Service) DisableLink(ctx context.Context, auth PackageAuth, packageID, linkID string) error {
	const op = "link.disable"
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, c, err := s.packageFor(tx, op, auth, packageID, needFull)
		if err != nil {
			return err
		}
		l, err := tx.Link(linkID)
		if Is(err, NotFound) || (err == nil && l.PackageID != pk.ID) {
			return E(op, NotFound, "link %s not found in package %s", linkID, pk.ID)
		}
		if err != nil || l.Disabled {
			return err
		}
		now := s.now()
		l.Disabled, l.DisabledAt, l.UpdatedAt = true, now, now
		if err := tx.PutLink(l); err != nil {
			return err
		}
		return s.event(tx, nil, Event{TeamID: pk.TeamID, Type: EvLinkDisabled, TargetID: l.ID, ActorUserID: c.UID, Via: "package_token",
			Details: map[string]string{"package_id": pk.ID}})
	})
	return Wrap(op, err)
}

// OpenLinkRequest is GET /v1/links/{id}?secret= with X-Link-Password.
type OpenLinkRequest struct {
	LinkID   string
	Secret   string
	Password string
	ClientIP string
}

// OpenedLink is what opening a link gives: the package's description and
// a download-level token of the package.
type OpenedLink struct {
	Link         Link
	Package      Package
	PackageToken string
	Expiry       time.Time
	// ActivityID names the download this token is (its jti).
	ActivityID string
}

// checkLinkPassword checks a link's download password (checkGuess): per
// link and address, and per link as a whole, so a recipient elsewhere
// still gets in while one address guesses (unless the link as a whole saw
// linkAllGuessBurst wrong guesses).
func (s *Service) checkLinkPassword(ctx context.Context, op string, l *Link, req OpenLinkRequest) error {
	limits := []guessLimit{{s.linkGuesses, l.ID + "|" + ClientKey(req.ClientIP)}, {s.linkAllGuesses, l.ID}}
	return s.checkGuess(ctx, op, limits, l.PasswordHash, req.Password,
		"this link needs a password: send it as X-Link-Password", "wrong password for this link")
}

// Limits on download-password guesses: per link and client address (a
// guesser is stopped), and per link overall (many addresses guessing one
// link are stopped too, while one address's guesses leave the recipient,
// elsewhere, able to open it).
const (
	linkGuessBurst        = 5
	linkGuessPerMinute    = 1
	linkAllGuessBurst     = 50
	linkAllGuessPerMinute = 10
	// Opens (each a download in the history) per link and address.
	linkOpenBurst     = 60
	linkOpenPerMinute = 20
)

// OpenLink opens a link: an unknown link and a wrong secret are the same
// 404; a disabled link or an expired one (or package) 410; an exhausted
// access limit 403; a missing or wrong password 401, rate limited (429).
// Each success is a new download (activity), pending until it obtains a
// file or zip URL.
func (s *Service) OpenLink(ctx context.Context, req OpenLinkRequest) (*OpenedLink, error) {
	const op = "link.open"
	var (
		l  *Link
		pk *Package
	)
	notFound := E(op, NotFound, "link not found: check that the whole link was copied, including ?secret=")
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if l, err = tx.Link(req.LinkID); err != nil {
			return err
		}
		pk, err = tx.Package(l.PackageID)
		return err
	})
	if Is(err, NotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, Wrap(op, err)
	}
	if subtle.ConstantTimeCompare([]byte(req.Secret), []byte(l.Secret)) != 1 {
		return nil, notFound
	}
	if err := s.linkUsable(op, l, pk); err != nil {
		return nil, err
	}
	if l.AccessLimit > 0 && l.Accesses >= l.AccessLimit {
		return nil, E(op, Forbidden, "this link's download limit is reached (%d of %d downloads): ask the sender for a new link", l.Accesses, l.AccessLimit)
	}
	if l.PasswordHash != "" {
		if err := s.checkLinkPassword(ctx, op, l, req); err != nil {
			return nil, err
		}
	}
	// Each open records a download: a page reloaded in a loop may not
	// fill the history.
	if ok, wait := s.linkOpens.Allow(l.ID+"|"+ClientKey(req.ClientIP), s.now()); !ok {
		secs := int(wait/time.Second) + 1
		return nil, &Error{Op: op, Kind: RateLimited, RetryAfter: secs,
			Msg: "this link was opened too often from your address; wait " + time.Duration(secs*int(time.Second)).String() + " and try again (a download in progress keeps working)"}
	}
	var out OpenedLink
	err = s.store.Update(ctx, func(tx Tx) error {
		l, err := tx.Link(req.LinkID)
		if err != nil {
			return err
		}
		pk, err := tx.Package(l.PackageID)
		if err != nil {
			return err
		}
		if err := s.linkUsable(op, l, pk); err != nil {
			return err
		}
		now := s.now()
		l.AccessedAt, l.UpdatedAt = now, now
		if err := tx.PutLink(l); err != nil {
			return err
		}
		if err := s.moveActivity(tx, l.ActivityID, StateStarted); err != nil {
			return err
		}
		if err := s.fireWebhooks(tx, HookLinkAccessed, pk, l); err != nil {
			return err
		}
		dl := &Activity{ID: NewID(), TeamID: pk.TeamID, Type: ActivityDownload, PackageID: pk.ID, LinkID: l.ID,
			TeamspaceID: pk.TeamspaceID, PortalID: pk.PortalID, Email: l.Email, ClientIP: req.ClientIP}
		s.transition(dl, StatePending)
		if err := tx.PutActivity(dl); err != nil {
			return err
		}
		exp := l.EffectiveExpiry(pk)
		out = OpenedLink{Link: *l, Package: *pk, Expiry: exp, ActivityID: dl.ID,
			PackageToken: s.keys.SignToken(Claims{Typ: "package", Sub: pk.ID, Lvl: "d", Lid: l.ID, Jti: dl.ID,
				Exp: exp.Unix(), Iat: now.Unix()})}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	return &out, nil
}

// linkUsable says why a link cannot be used now, if it cannot.
func (s *Service) linkUsable(op string, l *Link, pk *Package) error {
	switch {
	case l.Disabled:
		return E(op, Gone, "this link was disabled by the sender")
	case pk.State == PackageArchived:
		return E(op, Gone, "this package was deleted by the sender")
	case pk.State == PackageExpired || !pk.Expiry.After(s.now()):
		return E(op, Gone, "this package has expired")
	case !l.EffectiveExpiry(pk).After(s.now()):
		return E(op, Gone, "this link has expired")
	case pk.State != PackageFinalized:
		return E(op, Conflict, "this package is still being uploaded: the link works once the sender finishes")
	}
	return nil
}

func guessLimited(op string, wait time.Duration) error {
	secs := int(wait/time.Second) + 1
	return &Error{Op: op, Kind: RateLimited, RetryAfter: secs,
		Msg: "too many password attempts for this link; wait " + time.Duration(secs*int(time.Second)).String() + " and try again"}
}

// LinkPage is what a link's page shows before anything is downloaded.
type LinkPage struct {
	Link    Link
	Package Package
	// Files is empty when the link needs a password: the list is shown
	// once the password opened the link.
	Files         []*File
	NeedsPassword bool
	ZipSize       int64
	ExpiresAt     time.Time
	ShareURL      string
}

// DescribeLink checks a link's secret and state as OpenLink does (the same
// errors) but starts no download and takes no password: it is the link
// page's first view.
func (s *Service) DescribeLink(ctx context.Context, linkID, secret string) (*LinkPage, error) {
	const op = "link.page"
	notFound := E(op, NotFound, "link not found: check that the whole link was copied, including ?secret=")
	var out LinkPage
	err := s.store.View(ctx, func(tx Tx) error {
		l, err := tx.Link(linkID)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(secret), []byte(l.Secret)) != 1 {
			return notFound
		}
		pk, err := tx.Package(l.PackageID)
		if err != nil {
			return err
		}
		if err := s.linkUsable(op, l, pk); err != nil {
			return err
		}
		if l.AccessLimit > 0 && l.Accesses >= l.AccessLimit {
			return E(op, Forbidden, "this link's download limit is reached (%d of %d downloads): ask the sender for a new link", l.Accesses, l.AccessLimit)
		}
		out = LinkPage{Link: *l, Package: *pk, NeedsPassword: l.PasswordHash != "", ExpiresAt: l.EffectiveExpiry(pk), ShareURL: s.ShareURL(l)}
		if out.NeedsPassword {
			return nil
		}
		all, err := tx.PackageFiles(pk.ID)
		for _, f := range all {
			if f.State == FileFinalized {
				out.Files = append(out.Files, f)
			}
		}
		return err
	})
	if Is(err, NotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, Wrap(op, err)
	}
	if !out.NeedsPassword {
		if z, err := s.zipOf(ctx, &out.Package, false); err == nil {
			out.ZipSize = z.archive.Size()
		}
	}
	return &out, nil
}
