package core

import (
	"cmp"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// AuthConfig holds the knobs of authentication.
type AuthConfig struct {
	TokenTTL              time.Duration // user tokens (POST /v1/auth)
	SessionTTL            time.Duration // UI cookie sessions
	InviteTTL             time.Duration // invitation links
	LoginIPBurst          int
	LoginIPPerMinute      float64
	LoginAccountBurst     int
	LoginAccountPerMinute float64
}

// DefaultAuthConfig is used for zero fields of Deps.Auth.
var DefaultAuthConfig = AuthConfig{
	TokenTTL:              72 * time.Hour,
	SessionTTL:            12 * time.Hour,
	InviteTTL:             7 * 24 * time.Hour,
	LoginIPBurst:          20,
	LoginIPPerMinute:      10,
	LoginAccountBurst:     10,
	LoginAccountPerMinute: 5,
}

// Deps are what a Service needs.
type Deps struct {
	Store Store
	// Chunks is the chunk store holding file data; nil until the data
	// plane is wired (tests of the control plane run without it).
	Chunks ChunkStore
	Keys   *Keyring
	Hasher *Hasher
	Logger *slog.Logger
	Auth   AuthConfig
	// PublicURL is the base of links handed to people (invitations).
	PublicURL string
	// DownloadURL is the base of link pages ({base}/{link id}?secret=);
	// empty means PublicURL.
	DownloadURL string
	// Uploads are the data plane's limits; zero fields take
	// DefaultUploadConfig's.
	Uploads UploadConfig
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Space checks free space for upload reservations; nil means Chunks
	// if it implements SpaceChecker (store/chunk.Store does), else none.
	Space SpaceChecker
	// Mailer sends mail; nil means mail is off (nothing is queued).
	Mailer Mailer
	// Outbox tunes mail retries; zero fields take their defaults.
	Outbox OutboxConfig
	// ReminderBefore is how long before expiry link recipients are
	// reminded; 0 means no reminders.
	ReminderBefore time.Duration
	// PortalDomain is the parent domain of portal hosts; a portal may not
	// take a subdomain whose host is haul's own (public or download).
	PortalDomain string
	// HookClient sends webhook deliveries; nil means one that follows no
	// redirects (each attempt is bounded by webhookTimeout).
	HookClient *http.Client
	// PortalHostGone, when set, is told (after the change is committed) a
	// portal subdomain that no longer takes uploads: renamed away,
	// deactivated or deleted. HTTPS evicts its certificate.
	PortalHostGone func(subdomain string)
}

// Service holds haul's use cases. Every exported method that acts for
// someone takes the Principal and checks the role × action table before
// it reads or changes anything.
type Service struct {
	store     Store
	chunks    ChunkStore
	keys      *Keyring
	hasher    *Hasher
	log       *slog.Logger
	auth      AuthConfig
	publicURL string
	linkBase  string // base of link pages
	uploads   UploadConfig
	now       func() time.Time
	space     *space

	ipLimit      *Limiter
	accountLimit *Limiter
	// Wrong download-password guesses, per link and address and per link.
	linkGuesses    *Limiter
	linkAllGuesses *Limiter
	linkOpens      *Limiter  // opens per link and address
	portalGuesses  *Limiter  // wrong access codes per portal and address
	portalPackages *Limiter  // packages per portal and address
	formResponses  *Limiter  // form responses per portal and address
	zips           zipCaches // finalized packages' zip layouts
	hostGone       func(subdomain string)
	mailer         Mailer
	outbox         OutboxConfig
	outboxWake     chan struct{} // wakes RunOutbox
	hookClient     *http.Client
	reminderBefore time.Duration
	portalDomain   string
}

// orDefault replaces a zero or negative setting with its default.
func orDefault[T ~int | ~int64 | ~float64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// NewService wires a Service.
func NewService(d Deps) *Service {
	a := d.Auth
	def := DefaultAuthConfig
	orDefault(&a.TokenTTL, def.TokenTTL)
	orDefault(&a.SessionTTL, def.SessionTTL)
	orDefault(&a.InviteTTL, def.InviteTTL)
	if a.LoginIPBurst <= 0 {
		a.LoginIPBurst, a.LoginIPPerMinute = def.LoginIPBurst, def.LoginIPPerMinute
	}
	if a.LoginAccountBurst <= 0 {
		a.LoginAccountBurst, a.LoginAccountPerMinute = def.LoginAccountBurst, def.LoginAccountPerMinute
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	checker := d.Space
	if checker == nil {
		checker, _ = d.Chunks.(SpaceChecker)
	}
	return &Service{
		space: &space{byFile: map[string]*reservation{}, checker: checker},
		store: d.Store, chunks: d.Chunks, keys: d.Keys, hasher: d.Hasher, log: log, auth: a,
		publicURL: strings.TrimRight(d.PublicURL, "/"), linkBase: strings.TrimRight(cmp.Or(d.DownloadURL, d.PublicURL), "/"), uploads: d.Uploads.withDefaults(), now: func() time.Time { return now().UTC().Truncate(time.Millisecond) },
		ipLimit:        NewLimiter(a.LoginIPBurst, a.LoginIPPerMinute),
		accountLimit:   NewLimiter(a.LoginAccountBurst, a.LoginAccountPerMinute),
		hostGone:       d.PortalHostGone,
		mailer:         d.Mailer,
		outbox:         d.Outbox.withDefaults(),
		outboxWake:     make(chan struct{}, 1),
		reminderBefore: d.ReminderBefore,
		portalDomain:   strings.ToLower(d.PortalDomain),
		hookClient:     cmp.Or(d.HookClient, defaultHookClient()),
		linkGuesses:    NewLimiter(linkGuessBurst, linkGuessPerMinute),
		linkAllGuesses: NewLimiter(linkAllGuessBurst, linkAllGuessPerMinute),
		linkOpens:      NewLimiter(linkOpenBurst, linkOpenPerMinute),
		portalGuesses:  NewLimiter(portalGuessBurst, portalGuessPerMinute),
		portalPackages: NewLimiter(portalPackageBurst, portalPackagePerMinute),
		formResponses:  NewLimiter(formResponsesBurst, formResponsesPerMinute),
	}
}

// OnPortalHostGone sets the PortalHostGone hook (HTTPS is set up after
// the Service).
func (s *Service) OnPortalHostGone(fn func(subdomain string)) { s.hostGone = fn }

// Keys returns the signing keyring.
func (s *Service) Keys() *Keyring { return s.keys }

// Hasher returns the secret hasher.
func (s *Service) Hasher() *Hasher { return s.hasher }

// CredKind says how a principal proved who it is.
type CredKind string

const (
	ViaAPIKey    CredKind = "api_key"
	ViaUserToken CredKind = "user_token"
	ViaSession   CredKind = "session"
	ViaCLI       CredKind = "cli" // haul admin, on the data directory
)

// Principal is the authenticated user behind a request.
type Principal struct {
	User User
	Via  CredKind
	// APIKeyID and APIKeyTeamID are set when Via is ViaAPIKey: the key
	// acts only in its own team.
	APIKeyID     string
	APIKeyTeamID string
	SessionID    string
	ClientIP     string
}

// access is what authorize found: the caller's membership in the team.
type access struct {
	m    *Membership
	team *Team
}

// authorize checks that p may perform act in team teamID and returns the
// caller's membership. A non-member is told the team does not exist.
func (s *Service) authorize(tx Tx, op string, p *Principal, teamID string, act Action) (*access, error) {
	if p == nil {
		return nil, E(op, Unauthenticated, "authentication required: send X-API-KEY or X-User-Token")
	}
	if err := requirePasswordChanged(op, p); err != nil {
		return nil, err
	}
	notFound := E(op, NotFound, "team %s not found", teamID)
	if p.Via == ViaAPIKey && p.APIKeyTeamID != teamID {
		return nil, E(op, Forbidden, "this API key belongs to another team; use a key made in team %s", teamID)
	}
	team, err := tx.Team(teamID)
	if Is(err, NotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	m, err := tx.MembershipOf(teamID, p.User.ID)
	if Is(err, NotFound) || (err == nil && !m.InvitationAccepted) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !Allowed(m.Role, act) {
		return nil, E(op, Forbidden, "your role in this team (%s) does not allow %s; ask the team's owner or an admin", m.Role.Name(), act)
	}
	return &access{m: m, team: team}, nil
}

// requireUserCredential refuses API keys on routes that MASV reserves for
// user tokens (profile, password, API-key management).
func requireUserCredential(op string, p *Principal) error {
	if p == nil {
		return E(op, Unauthenticated, "authentication required: send X-User-Token")
	}
	if p.Via == ViaAPIKey {
		return E(op, Forbidden, "API keys cannot do this; log in with POST /v1/auth and send the token as X-User-Token")
	}
	return nil
}

// requirePasswordChanged refuses everything but reading one's profile,
// changing one's password and logging out while the user still has a
// generated password (MustChangePassword): that password was shown on a
// console or handed over, so it is not yet the user's own secret.
func requirePasswordChanged(op string, p *Principal) error {
	if p != nil && p.User.MustChangePassword {
		return E(op, Forbidden, "you must change the generated password first: PUT /v1/users/me/password")
	}
	return nil
}

// event fills the actor fields of e from p and appends it.
func (s *Service) event(tx Tx, p *Principal, e Event) error {
	e.ID = NewID()
	e.CreatedAt = s.now()
	if p != nil {
		e.ActorUserID = p.User.ID
		e.ActorEmail = p.User.Email
		e.Via = string(p.Via)
		e.ClientIP = p.ClientIP
	}
	return tx.AddEvent(&e)
}

// userEvent records e in every team the user belongs to. A team whose
// invitation the user has not accepted is not theirs yet: it learns
// nothing of them.
func (s *Service) userEvent(tx Tx, p *Principal, userID string, e Event) error {
	ms, err := tx.UserMemberships(userID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !m.InvitationAccepted {
			continue
		}
		e.TeamID = m.TeamID
		if err := s.event(tx, p, e); err != nil {
			return err
		}
	}
	return nil
}
