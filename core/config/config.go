package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole server configuration. Each field is one TOML section;
// see config.example.toml at the repository root for every key with its
// default.
type Config struct {
	// Server holds the listener, the public names and the data directory.
	Server Server `toml:"server"`
	// Bootstrap is read only when the data directory is empty, to create
	// the first team and its owner.
	Bootstrap Bootstrap `toml:"bootstrap"`
	// Auth holds token lifetimes, login rate limits and password hashing
	// costs.
	Auth Auth `toml:"auth"`
	// Log selects the level and format of the server log.
	Log Log `toml:"log"`
	// TLS selects how the server gets certificates, if at all.
	TLS TLS `toml:"tls"`
	// Storage describes the chunk store: where blocks live, how big they are
	// and how they are erasure-coded.
	Storage Storage `toml:"storage"`
	// Metrics guards the Prometheus endpoint.
	Metrics Metrics `toml:"metrics"`
	// Mail configures the SMTP relay for outgoing email.
	Mail Mail `toml:"mail"`
	// Retention holds the default lifetimes of packages and stale uploads.
	Retention Retention `toml:"retention"`
}

// Server is the [server] section.
type Server struct {
	// Listen is the main listener's host:port. It serves HTTPS when TLS is
	// on; then it defaults to ":443" unless set in the file or environment.
	Listen string `toml:"listen"`
	// PublicURL is the absolute http or https URL users reach the main host
	// at; links in email and the UI are built from it.
	PublicURL string `toml:"public_url"`
	// PortalDomain is the parent domain of portals: a portal with subdomain
	// "acme" is served at acme.<PortalDomain>.
	PortalDomain string `toml:"portal_domain"`
	// DownloadHost is an optional separate host name for link pages (it
	// also serves the API); empty means link pages live on the main host.
	DownloadHost string `toml:"download_host"`
	// DataDir holds the metadata database, keys, certificates and, unless
	// Storage.DataDirs says otherwise, the chunks.
	DataDir string `toml:"data_dir"`
	// TrustedProxies lists the peers (IPs or CIDRs) whose X-Forwarded-*
	// headers are believed. Empty means no peer is trusted.
	TrustedProxies []string `toml:"trusted_proxies"`
	// ShutdownTimeout is how long in-flight requests may keep running after
	// SIGTERM before they are cut off.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers, so slow clients cannot hold connections open.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// IdleTimeout is how long a keep-alive connection may sit idle between
	// requests.
	IdleTimeout Duration `toml:"idle_timeout"`
}

// Bootstrap is the [bootstrap] section, used only when the data directory
// is empty.
type Bootstrap struct {
	// TeamName names the first team.
	TeamName string `toml:"team_name"`
	// OwnerEmail is the first owner's login. Empty means an owner is
	// generated and its login printed once.
	OwnerEmail string `toml:"owner_email"`
	// OwnerPassword is the first owner's password, at least 10 characters.
	// Empty means one is generated and printed once.
	OwnerPassword string `toml:"owner_password"`
}

// Auth is the [auth] section.
type Auth struct {
	// TokenTTL is the lifetime of user tokens issued by POST /v1/auth.
	TokenTTL Duration `toml:"token_ttl"`
	// SessionTTL is the lifetime of UI cookie sessions.
	SessionTTL Duration `toml:"session_ttl"`
	// InviteTTL is how long an invitation link stays usable.
	InviteTTL Duration `toml:"invite_ttl"`
	// LoginIPBurst is how many login attempts one client address may make
	// at once before being rate limited.
	LoginIPBurst int `toml:"login_ip_burst"`
	// LoginIPPerMinute is how fast one client address regains login
	// attempts.
	LoginIPPerMinute int `toml:"login_ip_per_minute"`
	// LoginAccountBurst is how many login attempts one account may receive
	// at once, from anywhere, before being rate limited.
	LoginAccountBurst int `toml:"login_account_burst"`
	// LoginAccountPerMinute is how fast one account regains login attempts.
	LoginAccountPerMinute int `toml:"login_account_per_minute"`
	// MaxConcurrentHashes caps concurrent argon2id checks, so a burst of
	// logins cannot exhaust memory (each check uses Argon2MemoryKiB).
	MaxConcurrentHashes int `toml:"max_concurrent_hashes"`
	// HashMaxWait is how long a password check waits for a free slot
	// before the client is told to retry (503 with Retry-After).
	HashMaxWait Duration `toml:"hash_max_wait"`
	// Argon2MemoryKiB is argon2id's memory cost for new password hashes.
	// Existing hashes keep the parameters they were made with.
	Argon2MemoryKiB int `toml:"argon2_memory_kib"`
	// Argon2Time is argon2id's number of passes for new password hashes.
	Argon2Time int `toml:"argon2_time"`
	// Argon2Threads is argon2id's parallelism for new password hashes.
	Argon2Threads int `toml:"argon2_threads"`
}

// Log is the [log] section.
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text (human-readable) or json (one object per line).
	Format string `toml:"format"`
}

// TLS is the [tls] section.
type TLS struct {
	// Mode is off (plain HTTP, for local use or behind a proxy), acme
	// (certificates from an ACME CA), self_signed (a local CA for a LAN) or
	// files (CertFile and KeyFile).
	Mode string `toml:"mode"`
	// HTTPListen is the plain-HTTP listener used for ACME challenges and
	// redirects to HTTPS when TLS is on.
	HTTPListen string `toml:"http_listen"`
	// Email is the ACME account contact.
	Email string `toml:"email"`
	// CAURL is the ACME directory URL; empty means Let's Encrypt.
	CAURL string `toml:"ca_url"`
	// CARoot is a PEM file of the roots the ACME directory's own HTTPS
	// certificate chains to (a private CA); empty means the system's.
	CARoot string `toml:"ca_root"`
	// Agreed accepts the ACME CA's subscriber agreement (required for
	// mode acme).
	Agreed bool `toml:"agreed"`
	// CertFile is the PEM certificate chain for mode files.
	CertFile string `toml:"cert_file"`
	// KeyFile is the PEM private key for mode files.
	KeyFile string `toml:"key_file"`
	// HSTS sends Strict-Transport-Security on HTTPS responses when TLS is
	// on.
	HSTS bool `toml:"hsts"`
}

// Storage is the [storage] section.
type Storage struct {
	// DataDirs are the chunk directories, one per disk. Empty means
	// <server.data_dir>/chunks.
	DataDirs []string `toml:"data_dirs"`
	// BlockSize is the size files are cut into before erasure coding. It is
	// fixed when the data directory is created.
	BlockSize Size `toml:"block_size"`
	// DataShards is how many data shards each block is split into (1..128).
	DataShards int `toml:"data_shards"`
	// ParityShards is how many parity shards are added to each block
	// (0..128, DataShards+ParityShards at most 256). Changes apply to new
	// blocks only.
	ParityShards int `toml:"parity_shards"`
	// ScrubRate caps how fast the scrubber reads stored shards to verify
	// them; zero disables scrubbing.
	ScrubRate Rate `toml:"scrub_rate"`
	// Backend is where shards are kept: local (DataDirs) or s3 (S3).
	Backend string `toml:"backend"`
	// S3 configures the S3-compatible backend.
	S3 S3 `toml:"s3"`
}

// S3 is the [storage.s3] section, used when Storage.Backend is s3.
type S3 struct {
	// Endpoint is the http or https URL of the S3-compatible server; empty
	// means AWS S3 for Region.
	Endpoint string `toml:"endpoint"`
	// Region is the bucket's region, used for request signing.
	Region string `toml:"region"`
	// Bucket holds the shards; it must exist.
	Bucket string `toml:"bucket"`
	// Prefix is prepended to every object name, so one bucket can be
	// shared.
	Prefix string `toml:"prefix"`
	// AccessKey is the access key ID; set together with SecretKey.
	AccessKey string `toml:"access_key"`
	// SecretKey is the secret access key; set together with AccessKey.
	SecretKey string `toml:"secret_key"`
	// PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, which MinIO and Ceph usually need.
	PathStyle bool `toml:"path_style"`
	// InsecureSkipVerify skips TLS certificate verification of Endpoint.
	// Only for test servers with throwaway certificates.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// ParityShards, when above 0, keeps each block as storage.data_shards
	// data objects plus this many Reed-Solomon parity objects (for object
	// stores without redundancy of their own); 0 (the default) keeps each
	// block whole, one object.
	ParityShards int `toml:"parity_shards"`
}

// Metrics is the [metrics] section.
type Metrics struct {
	// Token is the bearer token /metrics requires. Empty means /metrics
	// answers loopback clients only.
	Token string `toml:"token"`
}

// Mail is the [mail] section.
type Mail struct {
	// SMTPHost is the relay's host name; empty turns email off.
	SMTPHost string `toml:"smtp_host"`
	// SMTPPort is the relay's port.
	SMTPPort int `toml:"smtp_port"`
	// SMTPTLS is starttls (upgrade a plain connection), implicit (TLS from
	// the first byte, usually port 465) or none.
	SMTPTLS string `toml:"smtp_tls"`
	// Username authenticates to the relay; empty means no authentication.
	Username string `toml:"username"`
	// Password goes with Username.
	Password string `toml:"password"`
	// From is the sender address, such as "Haul <noreply@example.com>";
	// required when SMTPHost is set.
	From string `toml:"from"`
	// ReminderHours is how long before a package expires its link
	// recipients are reminded; 0 turns reminders off.
	ReminderHours int `toml:"reminder_hours"`
}

// Retention is the [retention] section.
type Retention struct {
	// DefaultExpiryDays is the package lifetime given to new teams; a
	// team's own default, once set, wins.
	DefaultExpiryDays int `toml:"default_expiry_days"`
	// AbandonedUploadHours is how long after its last part an unfinished
	// upload is deleted.
	AbandonedUploadHours int `toml:"abandoned_upload_hours"`
}

// Default returns the configuration used for every key the file and the
// environment leave unset. It is valid as is: a server started with no
// configuration serves plain HTTP on :8080 with its data in ./data.
func Default() Config {
	return Config{
		Server: Server{
			Listen:            ":8080",
			PublicURL:         "http://localhost:8080",
			PortalDomain:      "localhost",
			DataDir:           "./data",
			ShutdownTimeout:   Duration{30 * time.Second},
			ReadHeaderTimeout: Duration{30 * time.Second},
			IdleTimeout:       Duration{120 * time.Second},
		},
		Bootstrap: Bootstrap{
			TeamName: "Studio",
		},
		Auth: Auth{
			TokenTTL:              Duration{72 * time.Hour},
			SessionTTL:            Duration{12 * time.Hour},
			InviteTTL:             Duration{168 * time.Hour},
			LoginIPBurst:          20,
			LoginIPPerMinute:      10,
			LoginAccountBurst:     10,
			LoginAccountPerMinute: 5,
			MaxConcurrentHashes:   2,
			HashMaxWait:           Duration{3 * time.Second},
			Argon2MemoryKiB:       64 * 1024,
			Argon2Time:            2,
			Argon2Threads:         2,
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		TLS: TLS{
			Mode:       "off",
			HTTPListen: ":80",
			HSTS:       true,
		},
		Storage: Storage{
			BlockSize:    4 * MiB,
			DataShards:   8,
			ParityShards: 2,
			ScrubRate:    50 * Rate(MB),
			Backend:      "local",
			S3: S3{
				Region:    "us-east-1",
				Bucket:    "haul",
				PathStyle: true,
			},
		},
		Mail: Mail{
			SMTPPort:      587,
			SMTPTLS:       "starttls",
			ReminderHours: 48,
		},
		Retention: Retention{
			DefaultExpiryDays:    30,
			AbandonedUploadHours: 48,
		},
	}
}

// TLSListen is the listen address used when TLS is on and server.listen was
// not set.
const TLSListen = ":443"

// TrustedProxyNets returns server.trusted_proxies as prefixes; a single
// address becomes a /32 or /128. IPv4-mapped IPv6 addresses are unmapped so
// they match the IPv4 peers the server sees. Entries that do not parse are
// skipped; Validate reports them.
func (c Config) TrustedProxyNets() []netip.Prefix {
	var nets []netip.Prefix
	for _, s := range c.Server.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			nets = append(nets, p)
		}
	}
	return nets
}

var errZone = errors.New("an address with a zone cannot be a trusted proxy")

// parseProxy reads one trusted_proxies entry: a CIDR (host bits are
// masked off) or a single address.
func parseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errZone
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ChunkDirs returns the directories the local chunk store spreads shards
// over: storage.data_dirs, or <server.data_dir>/chunks when that is empty.
func (c Config) ChunkDirs() []string {
	if len(c.Storage.DataDirs) > 0 {
		return append([]string(nil), c.Storage.DataDirs...)
	}
	return []string{filepath.Join(c.Server.DataDir, "chunks")}
}

// DirLossSurvive says how many whole data directories the storage
// geometry survives losing: shards of a block are spread round-robin over
// the directories, so one lost directory costs each block
// ceil(shards/dirs) of its shards.
func (c Config) DirLossSurvive() int {
	dirs := max(1, len(c.Storage.DataDirs))
	shards := c.Storage.DataShards + c.Storage.ParityShards
	if shards == 0 {
		return 0
	}
	per := (shards + dirs - 1) / dirs
	return c.Storage.ParityShards / per
}

// StorageSummary says in a sentence what the storage layout protects
// against, for the log at start.
func (c Config) StorageSummary() string {
	st := c.Storage
	dirs := len(c.ChunkDirs())
	s := fmt.Sprintf("%d+%d shards per block over %d data director", st.DataShards, st.ParityShards, dirs)
	if dirs == 1 {
		s += "y"
	} else {
		s += "ies"
	}
	if st.ParityShards == 0 {
		return s + ": no parity, so damaged data cannot be repaired"
	}
	s += fmt.Sprintf(": repairs up to %d damaged shards per block", st.ParityShards)
	if n := c.DirLossSurvive(); n > 0 && dirs > 1 {
		return s + fmt.Sprintf(" and survives losing %d whole director%s", n, map[bool]string{true: "y", false: "ies"}[n == 1])
	}
	return s + "; losing a whole directory loses data (add data_dirs on separate disks to survive one)"
}

// DownloadURL is the base URL of link pages: public_url with its host
// replaced by download_host when that is set (same scheme; the port of
// public_url is kept only when no download host is set), else public_url.
func (c Config) DownloadURL() string {
	if c.Server.DownloadHost == "" {
		return c.Server.PublicURL
	}
	scheme, _, _ := strings.Cut(c.Server.PublicURL, "://")
	return scheme + "://" + c.Server.DownloadHost
}
