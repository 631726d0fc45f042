package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes body to config.toml in a fresh directory and returns
// its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadNothingIsDefault(t *testing.T) {
	t.Parallel()
	got, err := Load("", []string{"PATH=/bin", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("Load with no file and no HAUL_ variables differs from Default:\n got %+v\nwant %+v", got, Default())
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want it to name %s", err, path)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
log.level = "debug"

[server]
listen = "127.0.0.1:9000"
trusted_proxies = ["10.0.0.0/8", "::1"]
shutdown_timeout = "5s"

[storage]
block_size = 1048576
scrub_rate = "0"
data_dirs = ["/disk1", "/disk2", "/disk3", "/disk4", "/disk5"]
s3 = { bucket = "other", path_style = false }

[auth]
argon2_memory_kib = 19456

[mail]
smtp_host = "smtp.example.com"
from = "Haul <noreply@example.com>"
`)
	got, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Log.Level = "debug"
	want.Server.Listen = "127.0.0.1:9000"
	want.Server.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	want.Server.ShutdownTimeout = Duration{5 * time.Second}
	want.Storage.BlockSize = MiB
	want.Storage.ScrubRate = 0
	want.Storage.DataDirs = []string{"/disk1", "/disk2", "/disk3", "/disk4", "/disk5"}
	want.Storage.S3.Bucket = "other"
	want.Storage.S3.PathStyle = false
	want.Auth.Argon2MemoryKiB = 19456
	want.Mail.SMTPHost = "smtp.example.com"
	want.Mail.From = "Haul <noreply@example.com>"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string // substrings of the error, after "config.toml: "
	}{
		{"unknown key", "[server]\nlistn = \":1\"\n", []string{`unknown key "server.listn"`, `did you mean "server.listen"?`}},
		{"unknown key far from any", "[server]\nwibble = 1\n", []string{`unknown key "server.wibble"`}},
		{"unknown section", "[serve]\nlisten = \":1\"\n", []string{`unknown key "serve"`}},
		{"unknown nested key", "[storage.s3]\nbuckt = \"x\"\n", []string{`unknown key "storage.s3.buckt"`}},
		{"unknown key in inline table", "storage = { s3 = { nope = 1 } }\n", []string{`unknown key "storage.s3.nope"`}},
		{"bad duration", "[server]\nshutdown_timeout = \"abc\"\n", []string{`server.shutdown_timeout: time: invalid duration "abc"`}},
		{"duration without unit", "[auth]\ntoken_ttl = 30\n", []string{`auth.token_ttl: time: missing unit`}},
		{"bad size", "[storage]\nblock_size = \"4MB/s\"\n", []string{`storage.block_size: invalid size "4MB/s"`, `"4MiB"`}},
		{"bad rate", "[storage]\nscrub_rate = \"50MB\"\n", []string{`storage.scrub_rate: invalid rate "50MB"`}},
		{"string for int", "[storage]\ndata_shards = \"eight\"\n", []string{`storage.data_shards: want an integer, not a string ("eight")`}},
		{"float for int", "[mail]\nsmtp_port = 58.7\n", []string{`mail.smtp_port: want an integer, not a float`}},
		{"int for string", "[server]\nlisten = 8080\n", []string{`server.listen: want a string, not an integer (8080)`}},
		{"string for bool", "[tls]\nhsts = \"yes\"\n", []string{`tls.hsts: want true or false, not a string ("yes")`}},
		{"string for list", "[server]\ntrusted_proxies = \"10.0.0.1\"\n", []string{`server.trusted_proxies: want a list of strings`}},
		{"int in list", "[storage]\ndata_dirs = [\"/a\", 2]\n", []string{`storage.data_dirs: item 2: want a string, not an integer (2)`}},
		{"value for section", "server = \":8080\"\n", []string{`server: want a table [server], not a string`}},
		{"table for value", "[server.listen]\nport = 1\n", []string{`server.listen: want a string, not a table`}},
		{"array of tables for section", "[[server]]\nlisten = \":1\"\n", []string{`server: want a table [server], not an array`}},
		{"syntax error", "[server]\nlisten = \n", []string{"toml: line 2"}},
		{"invalid after decoding", "[tls]\nmode = \"acmee\"\n", []string{`tls.mode: "acmee" is not one of off, acme, self_signed, files`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.body)
			_, err := Load(path, nil)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.name != "invalid after decoding" && !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    []string
		change func(*Config)
	}{
		{"string", []string{"HAUL_SERVER_PUBLIC_URL=https://files.example.com"}, func(c *Config) {
			c.Server.PublicURL = "https://files.example.com"
		}},
		{"empty string", []string{"HAUL_METRICS_TOKEN="}, func(c *Config) {}},
		{"int", []string{"HAUL_STORAGE_PARITY_SHARDS=3"}, func(c *Config) {
			c.Storage.ParityShards = 3
		}},
		{"bool", []string{"HAUL_TLS_HSTS=false", "HAUL_STORAGE_S3_INSECURE_SKIP_VERIFY=1"}, func(c *Config) {
			c.TLS.HSTS = false
			c.Storage.S3.InsecureSkipVerify = true
		}},
		{"list", []string{"HAUL_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1,"}, func(c *Config) {
			c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.1"}
		}},
		{"empty list", []string{"HAUL_STORAGE_DATA_DIRS="}, func(c *Config) {}},
		{"nested s3 key", []string{"HAUL_STORAGE_S3_ENDPOINT=http://127.0.0.1:9000"}, func(c *Config) {
			c.Storage.S3.Endpoint = "http://127.0.0.1:9000"
		}},
		{"duration", []string{"HAUL_AUTH_TOKEN_TTL=1h30m"}, func(c *Config) {
			c.Auth.TokenTTL = Duration{90 * time.Minute}
		}},
		{"size and rate", []string{"HAUL_STORAGE_BLOCK_SIZE=1MiB", "HAUL_STORAGE_SCRUB_RATE=1GiB/s"}, func(c *Config) {
			c.Storage.BlockSize = MiB
			c.Storage.ScrubRate = Rate(GiB)
		}},
		{"last one wins", []string{"HAUL_LOG_LEVEL=warn", "HAUL_LOG_LEVEL=debug"}, func(c *Config) {
			c.Log.Level = "debug"
		}},
		{"agent variables ignored", []string{"HAUL_AGENT_URL=https://x", "HAUL_AGENT_API_KEY=k"}, func(c *Config) {}},
		{"variables outside sections ignored", []string{"HAUL_CONFIG=/etc/haul.toml", "HAUL=1", "PATH=/bin", "NOEQUALS"}, func(c *Config) {}},
		{"lower case ignored", []string{"haul_server_listen=nope"}, func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load("", tt.env)
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.change(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load(env %q):\n got %+v\nwant %+v", tt.env, got, want)
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "[storage]\ndata_shards = 4\nparity_shards = 1\n")
	got, err := Load(path, []string{"HAUL_STORAGE_PARITY_SHARDS=3"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Storage.DataShards != 4 || got.Storage.ParityShards != 3 {
		t.Errorf("shards = %d+%d, want 4+3", got.Storage.DataShards, got.Storage.ParityShards)
	}
}

func TestLoadEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown key in section", []string{"HAUL_SERVER_FOO=1"}, []string{"HAUL_SERVER_FOO: unknown variable: [server] has no such key"}},
		{"unknown nested key", []string{"HAUL_STORAGE_S3_BUCKT=x"}, []string{"HAUL_STORAGE_S3_BUCKT: unknown variable: [storage.s3]", `did you mean "HAUL_STORAGE_S3_BUCKET"?`}},
		{"typo in section key", []string{"HAUL_TLS_MOD=acme"}, []string{"HAUL_TLS_MOD", `"HAUL_TLS_MODE"`}},
		{"bad int", []string{"HAUL_STORAGE_DATA_SHARDS=eight"}, []string{`HAUL_STORAGE_DATA_SHARDS: "eight" is not an integer`}},
		{"bad bool", []string{"HAUL_TLS_HSTS=yes"}, []string{`HAUL_TLS_HSTS: "yes" is not a boolean`}},
		{"bad duration", []string{"HAUL_SERVER_IDLE_TIMEOUT=forever"}, []string{`HAUL_SERVER_IDLE_TIMEOUT: time: invalid duration "forever"`}},
		{"bad size", []string{"HAUL_STORAGE_BLOCK_SIZE=4M"}, []string{`HAUL_STORAGE_BLOCK_SIZE: invalid size "4M"`}},
		{"bad rate", []string{"HAUL_STORAGE_SCRUB_RATE=fast"}, []string{`HAUL_STORAGE_SCRUB_RATE: invalid rate "fast"`}},
		{"every error reported", []string{"HAUL_SERVER_FOO=1", "HAUL_MAIL_SMTP_PORT=x"}, []string{"HAUL_SERVER_FOO", "HAUL_MAIL_SMTP_PORT"}},
		{"invalid after override", []string{"HAUL_TLS_MODE=acmee"}, []string{`tls.mode: "acmee" is not one of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("", tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestListenDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  []string
		want string
	}{
		{"tls off", "", nil, ":8080"},
		{"tls off, listen in file", "[server]\nlisten = \":9000\"\n", nil, ":9000"},
		{"acme from env", "", []string{"HAUL_TLS_MODE=acme", "HAUL_TLS_AGREED=true"}, ":443"},
		{"self_signed from file", "[tls]\nmode = \"self_signed\"\n", nil, ":443"},
		{"files from file", "[tls]\nmode = \"files\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n", nil, ":443"},
		{"tls on, listen in file", "[server]\nlisten = \":8443\"\n[tls]\nmode = \"acme\"\nagreed = true\n", nil, ":8443"},
		{"tls on, default value written in file", "[server]\nlisten = \":8080\"\n[tls]\nmode = \"acme\"\nagreed = true\n", nil, ":8080"},
		{"tls on, listen in env", "[tls]\nmode = \"acme\"\nagreed = true\n", []string{"HAUL_SERVER_LISTEN=:8443"}, ":8443"},
		{"tls turned off by env", "[tls]\nmode = \"acme\"\n", []string{"HAUL_TLS_MODE=off"}, ":8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			c, err := Load(path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Listen != tt.want {
				t.Errorf("server.listen = %q, want %q", c.Server.Listen, tt.want)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	t.Parallel()
	s := schemaOf() // panics on a field of an unsupported type
	seen := map[string]string{}
	for _, l := range s.leaves {
		if other, ok := seen[l.env]; ok {
			t.Errorf("keys %s and %s share the variable %s", other, l.key, l.env)
		}
		seen[l.env] = l.key
		if strings.HasPrefix(l.env, agentEnvPrefix) {
			t.Errorf("key %s would be read from the agent's variable %s", l.key, l.env)
		}
	}
	for _, key := range []string{"server.listen", "storage.s3.endpoint", "retention.abandoned_upload_hours"} {
		if _, ok := s.byKey[key]; !ok {
			t.Errorf("schema has no key %s", key)
		}
	}
	if got := s.byKey["storage.s3.path_style"].env; got != "HAUL_STORAGE_S3_PATH_STYLE" {
		t.Errorf("env name = %s", got)
	}
}

// TestDownloadURL: link pages go to download_host when set, with the
// public URL's scheme.
func TestDownloadURL(t *testing.T) {
	c := Default()
	c.Server.PublicURL = "https://files.example.com:8443"
	if got := c.DownloadURL(); got != "https://files.example.com:8443" {
		t.Fatalf("without download_host: %s", got)
	}
	c.Server.DownloadHost = "get.example.com"
	if got := c.DownloadURL(); got != "https://get.example.com" {
		t.Fatalf("with download_host: %s", got)
	}
}
