package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validate reports every key whose value the server cannot use, each as
// "key: what is wrong and what is allowed". It returns nil for Default.
func (c *Config) Validate() error {
	v := &validator{}

	s := c.Server
	v.hostPort("server.listen", s.Listen)
	v.httpURL("server.public_url", s.PublicURL, true)
	v.hostName("server.portal_domain", s.PortalDomain, true)
	v.hostName("server.download_host", s.DownloadHost, false)
	v.nonEmpty("server.data_dir", s.DataDir)
	for _, p := range s.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			v.addf("server.trusted_proxies", "%q is not an IP address or CIDR (like 10.0.0.1 or 10.0.0.0/8)", p)
		}
	}
	v.duration("server.shutdown_timeout", s.ShutdownTimeout, true)
	v.duration("server.read_header_timeout", s.ReadHeaderTimeout, false)
	v.duration("server.idle_timeout", s.IdleTimeout, false)

	b := c.Bootstrap
	v.nonEmpty("bootstrap.team_name", b.TeamName)
	if b.OwnerEmail != "" {
		if a, err := mail.ParseAddress(b.OwnerEmail); err != nil || a.Address != b.OwnerEmail {
			v.addf("bootstrap.owner_email", "%q is not an email address (like owner@example.com)", b.OwnerEmail)
		}
	}
	if b.OwnerPassword != "" {
		if n := utf8.RuneCountInString(b.OwnerPassword); n < 10 {
			v.addf("bootstrap.owner_password", "is %d characters; want at least 10", n)
		}
		if b.OwnerEmail == "" {
			v.addf("bootstrap.owner_password", "is set but bootstrap.owner_email is empty; set both or neither")
		}
	}

	a := c.Auth
	v.duration("auth.token_ttl", a.TokenTTL, false)
	v.duration("auth.session_ttl", a.SessionTTL, false)
	v.duration("auth.invite_ttl", a.InviteTTL, false)
	v.intRange("auth.login_ip_burst", a.LoginIPBurst, 1, 1<<20)
	v.intRange("auth.login_ip_per_minute", a.LoginIPPerMinute, 1, 1<<20)
	v.intRange("auth.login_account_burst", a.LoginAccountBurst, 1, 1<<20)
	v.intRange("auth.login_account_per_minute", a.LoginAccountPerMinute, 1, 1<<20)
	v.intRange("auth.max_concurrent_hashes", a.MaxConcurrentHashes, 1, 1024)
	v.duration("auth.hash_max_wait", a.HashMaxWait, false)
	v.intRange("auth.argon2_time", a.Argon2Time, 1, 100)
	v.intRange("auth.argon2_threads", a.Argon2Threads, 1, 255)
	// argon2 needs at least 8 KiB per thread; 4 GiB per check is already
	// more than any server should spend.
	v.intRange("auth.argon2_memory_kib", a.Argon2MemoryKiB, max(8*a.Argon2Threads, 8), 4<<20)

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	t := c.TLS
	v.oneOf("tls.mode", t.Mode, "off", "acme", "self_signed", "files")
	v.hostPort("tls.http_listen", t.HTTPListen)
	if t.CAURL != "" {
		v.httpURL("tls.ca_url", t.CAURL, false)
	}
	if t.Mode == "files" {
		v.requiredFor("tls.cert_file", t.CertFile, "tls.mode is files")
		v.requiredFor("tls.key_file", t.KeyFile, "tls.mode is files")
	}
	if t.Mode == "acme" && !t.Agreed {
		v.addf("tls.agreed", "set tls.agreed = true to accept the ACME CA's subscriber agreement (Let's Encrypt's by default)")
	}

	st := c.Storage
	seen := map[string]bool{}
	for _, d := range st.DataDirs {
		switch clean := filepath.Clean(d); {
		case d == "":
			v.addf("storage.data_dirs", "contains an empty path")
		case seen[clean]:
			v.addf("storage.data_dirs", "lists %q twice", d)
		default:
			seen[clean] = true
		}
	}
	if st.BlockSize < 4*KiB || st.BlockSize > GiB {
		v.addf("storage.block_size", "%s is out of range; want 4KiB to 1GiB", st.BlockSize)
	}
	v.intRange("storage.data_shards", st.DataShards, 1, 128)
	v.intRange("storage.parity_shards", st.ParityShards, 0, 128)
	if n := len(st.DataDirs); n > 1 && st.ParityShards > 0 && st.DataShards > 0 && c.DirLossSurvive() == 0 {
		per := (st.DataShards + st.ParityShards + n - 1) / n
		v.addf("storage.data_dirs", "%d directories with %d+%d shards: losing one directory costs each block %d shards but parity covers %d, so no directory loss is survivable; use at least %d directories or more parity_shards",
			n, st.DataShards, st.ParityShards, per, st.ParityShards, (st.DataShards+st.ParityShards+st.ParityShards-1)/st.ParityShards)
	}
	v.intRange("storage.s3.parity_shards", st.S3.ParityShards, 0, 128)
	if st.S3.ParityShards > 0 && st.DataShards+st.S3.ParityShards > 256 {
		v.addf("storage.s3.parity_shards", "data_shards + s3.parity_shards is %d; want at most 256", st.DataShards+st.S3.ParityShards)
	}
	if st.DataShards+st.ParityShards > 256 {
		v.addf("storage.parity_shards", "data_shards + parity_shards is %d; want at most 256", st.DataShards+st.ParityShards)
	}
	if st.ScrubRate < 0 {
		v.addf("storage.scrub_rate", "is negative; want a rate like \"50MB/s\" or \"0\" to disable")
	}
	v.oneOf("storage.backend", st.Backend, "local", "s3")
	if st.Backend == "s3" {
		s3 := st.S3
		if s3.Endpoint != "" {
			v.httpURL("storage.s3.endpoint", s3.Endpoint, false)
		}
		v.requiredFor("storage.s3.region", s3.Region, "storage.backend is s3")
		v.requiredFor("storage.s3.bucket", s3.Bucket, "storage.backend is s3")
		switch {
		case s3.AccessKey != "" && s3.SecretKey == "":
			v.addf("storage.s3.secret_key", "must be set when storage.s3.access_key is set")
		case s3.AccessKey == "" && s3.SecretKey != "":
			v.addf("storage.s3.access_key", "must be set when storage.s3.secret_key is set")
		}
	}

	m := c.Mail
	v.intRange("mail.smtp_port", m.SMTPPort, 1, 65535)
	v.oneOf("mail.smtp_tls", m.SMTPTLS, "starttls", "implicit", "none")
	v.intRange("mail.reminder_hours", m.ReminderHours, 0, 24*365)
	if m.SMTPHost != "" {
		v.requiredFor("mail.from", m.From, "mail.smtp_host is set")
		if m.From != "" {
			if _, err := mail.ParseAddress(m.From); err != nil {
				v.addf("mail.from", "%q is not an address (like noreply@example.com or \"Haul <noreply@example.com>\")", m.From)
			}
		}
	}

	v.intRange("retention.default_expiry_days", c.Retention.DefaultExpiryDays, 1, 36500)
	v.intRange("retention.abandoned_upload_hours", c.Retention.AbandonedUploadHours, 1, 24*365)

	return errors.Join(v.errs...)
}

// validator collects every problem so an operator can fix them all in one
// go.
type validator struct {
	errs []error
}

func (v *validator) addf(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) nonEmpty(key, val string) {
	if val == "" {
		v.addf(key, "must not be empty")
	}
}

func (v *validator) requiredFor(key, val, because string) {
	if val == "" {
		v.addf(key, "must be set when %s", because)
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.addf(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}
}

func (v *validator) intRange(key string, val, lo, hi int) {
	if val < lo || val > hi {
		v.addf(key, "%d is out of range; want %d to %d", val, lo, hi)
	}
}

func (v *validator) duration(key string, d Duration, zeroOK bool) {
	switch {
	case d.Duration < 0:
		v.addf(key, "%s is negative", d)
	case d.Duration == 0 && !zeroOK:
		v.addf(key, "must be more than zero (like \"30s\" or \"12h\")")
	}
}

// hostPort accepts what net.Listen accepts for TCP with a numeric port:
// ":8080", "0.0.0.0:443", "[::1]:8080", "localhost:8080".
func (v *validator) hostPort(key, val string) {
	_, port, err := net.SplitHostPort(val)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		v.addf(key, "%q is not host:port (like \":8080\" or \"127.0.0.1:8080\")", val)
	}
}

// httpURL accepts an absolute http or https URL with a host. A public URL
// must also be a bare origin or a path prefix, without query or fragment.
func (v *validator) httpURL(key, val string, public bool) {
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.addf(key, "%q is not an absolute http or https URL (like https://files.example.com)", val)
		return
	}
	if public && (u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
		v.addf(key, "%q must not have user info, a query or a fragment", val)
	}
}

// hostName accepts a bare host name, optionally with a port (portals in
// local development live at <sub>.localhost:8080): no scheme, no path.
func (v *validator) hostName(key, val string, required bool) {
	if val == "" {
		if required {
			v.addf(key, "must not be empty")
		}
		return
	}
	if strings.ContainsAny(val, "/ @?#") || strings.HasPrefix(val, ".") || strings.HasSuffix(val, ".") {
		v.addf(key, "%q is not a host name (like files.example.com, without scheme or path)", val)
	}
}
