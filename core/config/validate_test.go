package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"tls mode", func(c *Config) { c.TLS.Mode = "acmee" }, `tls.mode: "acmee" is not one of off, acme, self_signed, files`},
		{"acme without agreement", func(c *Config) { c.TLS.Mode = "acme" }, `tls.agreed: set tls.agreed = true`},
		{"listen without port", func(c *Config) { c.Server.Listen = "localhost" }, `server.listen: "localhost" is not host:port`},
		{"listen bad port", func(c *Config) { c.Server.Listen = ":99999" }, `server.listen: ":99999" is not host:port`},
		{"listen ipv6", func(c *Config) { c.Server.Listen = "[::1]:8080" }, ""},
		{"listen random port", func(c *Config) { c.Server.Listen = "127.0.0.1:0" }, ""},
		{"http listen", func(c *Config) { c.TLS.HTTPListen = "80" }, `tls.http_listen: "80" is not host:port`},
		{"public url scheme", func(c *Config) { c.Server.PublicURL = "ftp://x" }, `server.public_url: "ftp://x" is not an absolute http or https URL`},
		{"public url relative", func(c *Config) { c.Server.PublicURL = "files.example.com" }, `server.public_url: "files.example.com" is not an absolute`},
		{"public url query", func(c *Config) { c.Server.PublicURL = "https://x.com/?a=1" }, `server.public_url: "https://x.com/?a=1" must not have`},
		{"public url https with path", func(c *Config) { c.Server.PublicURL = "https://example.com/haul" }, ""},
		{"portal domain empty", func(c *Config) { c.Server.PortalDomain = "" }, "server.portal_domain: must not be empty"},
		{"portal domain with scheme", func(c *Config) { c.Server.PortalDomain = "https://x.com" }, `server.portal_domain: "https://x.com" is not a host name`},
		{"download host", func(c *Config) { c.Server.DownloadHost = "dl.example.com/x" }, `server.download_host: "dl.example.com/x" is not a host name`},
		{"download host with port", func(c *Config) { c.Server.DownloadHost = "dl.localhost:8080" }, ""},
		{"data dir empty", func(c *Config) { c.Server.DataDir = "" }, "server.data_dir: must not be empty"},
		{"trusted proxy", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, `server.trusted_proxies: "proxy.local" is not an IP address or CIDR`},
		{"trusted proxy bad cidr", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, `server.trusted_proxies: "10.0.0.0/33"`},
		{"trusted proxies mixed", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.1", "fd00::/8", "::1"} }, ""},
		{"zero shutdown timeout allowed", func(c *Config) { c.Server.ShutdownTimeout = Duration{} }, ""},
		{"negative shutdown timeout", func(c *Config) { c.Server.ShutdownTimeout = Duration{-time.Second} }, "server.shutdown_timeout: -1s is negative"},
		{"zero idle timeout", func(c *Config) { c.Server.IdleTimeout = Duration{} }, "server.idle_timeout: must be more than zero"},
		{"zero token ttl", func(c *Config) { c.Auth.TokenTTL = Duration{} }, "auth.token_ttl: must be more than zero"},
		{"short password", func(c *Config) { c.Bootstrap.OwnerEmail = "a@b.co"; c.Bootstrap.OwnerPassword = "123456789" }, "bootstrap.owner_password: is 9 characters; want at least 10"},
		{"password without email", func(c *Config) { c.Bootstrap.OwnerPassword = "long enough password" }, "bootstrap.owner_password: is set but bootstrap.owner_email is empty"},
		{"good owner", func(c *Config) { c.Bootstrap.OwnerEmail = "a@b.co"; c.Bootstrap.OwnerPassword = "1234567890" }, ""},
		{"bad email", func(c *Config) { c.Bootstrap.OwnerEmail = "not-an-email" }, `bootstrap.owner_email: "not-an-email" is not an email address`},
		{"email with name", func(c *Config) { c.Bootstrap.OwnerEmail = "Ann <a@b.co>" }, `bootstrap.owner_email: "Ann <a@b.co>" is not an email address`},
		{"team name empty", func(c *Config) { c.Bootstrap.TeamName = "" }, "bootstrap.team_name: must not be empty"},
		{"login burst zero", func(c *Config) { c.Auth.LoginIPBurst = 0 }, "auth.login_ip_burst: 0 is out of range; want 1 to"},
		{"hashes zero", func(c *Config) { c.Auth.MaxConcurrentHashes = 0 }, "auth.max_concurrent_hashes: 0 is out of range"},
		{"argon2 threads", func(c *Config) { c.Auth.Argon2Threads = 256 }, "auth.argon2_threads: 256 is out of range; want 1 to 255"},
		{"argon2 memory below threads", func(c *Config) { c.Auth.Argon2Threads = 4; c.Auth.Argon2MemoryKiB = 16 }, "auth.argon2_memory_kib: 16 is out of range; want 32 to"},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, `log.level: "trace" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
		{"files without cert", func(c *Config) { c.TLS.Mode = "files"; c.TLS.KeyFile = "k.pem" }, "tls.cert_file: must be set when tls.mode is files"},
		{"files without key", func(c *Config) { c.TLS.Mode = "files"; c.TLS.CertFile = "c.pem" }, "tls.key_file: must be set when tls.mode is files"},
		{"files complete", func(c *Config) { c.TLS.Mode = "files"; c.TLS.CertFile = "c.pem"; c.TLS.KeyFile = "k.pem" }, ""},
		{"ca url", func(c *Config) { c.TLS.CAURL = "localhost:14000/dir" }, `tls.ca_url: "localhost:14000/dir" is not an absolute http or https URL`},
		{"data shards zero", func(c *Config) { c.Storage.DataShards = 0 }, "storage.data_shards: 0 is out of range; want 1 to 128"},
		{"data shards too many", func(c *Config) { c.Storage.DataShards = 129 }, "storage.data_shards: 129 is out of range; want 1 to 128"},
		{"parity negative", func(c *Config) { c.Storage.ParityShards = -1 }, "storage.parity_shards: -1 is out of range; want 0 to 128"},
		{"parity too many", func(c *Config) { c.Storage.ParityShards = 129 }, "storage.parity_shards: 129 is out of range"},
		{"no parity", func(c *Config) { c.Storage.ParityShards = 0 }, ""},
		{"widest code", func(c *Config) { c.Storage.DataShards = 128; c.Storage.ParityShards = 128 }, ""},
		{"block size tiny", func(c *Config) { c.Storage.BlockSize = 100 }, "storage.block_size: 100 is out of range; want 4KiB to 1GiB"},
		{"block size huge", func(c *Config) { c.Storage.BlockSize = 2 * GiB }, "storage.block_size: 2GiB is out of range"},
		{"scrub disabled", func(c *Config) { c.Storage.ScrubRate = 0 }, ""},
		{"scrub negative", func(c *Config) { c.Storage.ScrubRate = -1 }, "storage.scrub_rate: is negative"},
		{"duplicate data dirs", func(c *Config) { c.Storage.DataDirs = []string{"/d1", "/d1/"} }, `storage.data_dirs: lists "/d1/" twice`},
		{"backend", func(c *Config) { c.Storage.Backend = "gcs" }, `storage.backend: "gcs" is not one of local, s3`},
		{"s3 endpoint", func(c *Config) { c.Storage.Backend = "s3"; c.Storage.S3.Endpoint = "127.0.0.1:9000" }, `storage.s3.endpoint: "127.0.0.1:9000" is not an absolute http or https URL`},
		{"s3 bucket", func(c *Config) { c.Storage.Backend = "s3"; c.Storage.S3.Bucket = "" }, "storage.s3.bucket: must be set when storage.backend is s3"},
		{"s3 half a key", func(c *Config) { c.Storage.Backend = "s3"; c.Storage.S3.AccessKey = "AK" }, "storage.s3.secret_key: must be set when storage.s3.access_key is set"},
		{"s3 other half", func(c *Config) { c.Storage.Backend = "s3"; c.Storage.S3.SecretKey = "SK" }, "storage.s3.access_key: must be set when storage.s3.secret_key is set"},
		{"s3 ignored when local", func(c *Config) { c.Storage.S3.Bucket = "" }, ""},
		{"s3 complete", func(c *Config) {
			c.Storage.Backend = "s3"
			c.Storage.S3.Endpoint = "http://127.0.0.1:9000"
			c.Storage.S3.AccessKey, c.Storage.S3.SecretKey = "AK", "SK"
		}, ""},
		{"smtp tls", func(c *Config) { c.Mail.SMTPTLS = "ssl" }, `mail.smtp_tls: "ssl" is not one of starttls, implicit, none`},
		{"smtp port", func(c *Config) { c.Mail.SMTPPort = 0 }, "mail.smtp_port: 0 is out of range; want 1 to 65535"},
		{"mail without from", func(c *Config) { c.Mail.SMTPHost = "smtp.example.com" }, "mail.from: must be set when mail.smtp_host is set"},
		{"mail bad from", func(c *Config) { c.Mail.SMTPHost = "smtp.example.com"; c.Mail.From = "noreply" }, `mail.from: "noreply" is not an address`},
		{"expiry zero", func(c *Config) { c.Retention.DefaultExpiryDays = 0 }, "retention.default_expiry_days: 0 is out of range"},
		{"abandoned zero", func(c *Config) { c.Retention.AbandonedUploadHours = 0 }, "retention.abandoned_upload_hours: 0 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate succeeded, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Default()
	c.TLS.Mode = "nope"
	c.Log.Level = "loud"
	c.Storage.DataShards = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, key := range []string{"tls.mode", "log.level", "storage.data_shards"} {
		if !strings.Contains(err.Error(), key+": ") {
			t.Errorf("error %q does not mention %s", err, key)
		}
	}
}

func TestTrustedProxyNets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		proxies []string
		want    []string
	}{
		{"none", nil, nil},
		{"ipv4 address", []string{"192.168.1.1"}, []string{"192.168.1.1/32"}},
		{"ipv6 address", []string{"::1"}, []string{"::1/128"}},
		{"mapped address", []string{"::ffff:10.0.0.1"}, []string{"10.0.0.1/32"}},
		{"cidr masked", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}},
		{"ipv6 cidr", []string{"fd00::/8"}, []string{"fd00::/8"}},
		{"invalid skipped", []string{"nope", "10.0.0.1"}, []string{"10.0.0.1/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.Server.TrustedProxies = tt.proxies
			var want []netip.Prefix
			for _, s := range tt.want {
				want = append(want, netip.MustParsePrefix(s))
			}
			if got := c.TrustedProxyNets(); !reflect.DeepEqual(got, want) {
				t.Errorf("TrustedProxyNets() = %v, want %v", got, want)
			}
		})
	}
}

func TestChunkDirs(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Server.DataDir = "/var/lib/haul"
	if got, want := c.ChunkDirs(), []string{filepath.Join("/var/lib/haul", "chunks")}; !reflect.DeepEqual(got, want) {
		t.Errorf("ChunkDirs() = %v, want %v", got, want)
	}
	c.Storage.DataDirs = []string{"/disk1", "/disk2"}
	got := c.ChunkDirs()
	if !reflect.DeepEqual(got, []string{"/disk1", "/disk2"}) {
		t.Errorf("ChunkDirs() = %v, want the data_dirs", got)
	}
	got[0] = "changed"
	if c.Storage.DataDirs[0] != "/disk1" {
		t.Error("ChunkDirs returned the config's own slice")
	}
}

func TestDirLossLayout(t *testing.T) {
	for _, tc := range []struct {
		dirs, data, parity int
		survive            int
		refused            bool
	}{
		{1, 8, 2, 0, false}, // one directory: parity is for bit rot
		{10, 8, 2, 2, false},
		{5, 8, 2, 1, false},
		{4, 8, 2, 0, true}, // 3 shards per directory, parity 2
		{3, 4, 0, 0, false},
		{6, 4, 2, 2, false},
	} {
		c := Default()
		c.Storage.DataShards, c.Storage.ParityShards = tc.data, tc.parity
		c.Storage.DataDirs = nil
		for i := range tc.dirs {
			if tc.dirs > 1 {
				c.Storage.DataDirs = append(c.Storage.DataDirs, fmt.Sprintf("/disk%d", i))
			}
		}
		if got := c.DirLossSurvive(); got != tc.survive {
			t.Errorf("%d dirs %d+%d: survives %d, want %d", tc.dirs, tc.data, tc.parity, got, tc.survive)
		}
		err := c.Validate()
		if (err != nil) != tc.refused {
			t.Errorf("%d dirs %d+%d: Validate = %v, refused want %v", tc.dirs, tc.data, tc.parity, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "storage.data_dirs") {
			t.Errorf("error does not name storage.data_dirs: %v", err)
		}
		if c.StorageSummary() == "" {
			t.Error("empty summary")
		}
	}
}
