package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"haul/client"
)

// Credentials are what `haul login` stores (login.json, mode 0600).
// HAUL_AGENT_URL, HAUL_AGENT_API_KEY and HAUL_AGENT_CA override them.
type Credentials struct {
	URL       string `json:"url"`
	APIKey    string `json:"api_key,omitempty"`
	UserToken string `json:"user_token,omitempty"`
	Email     string `json:"email,omitempty"`
	TeamID    string `json:"team_id,omitempty"`
	TeamName  string `json:"team_name,omitempty"`
	// CA is a PEM file of a certificate authority to trust besides the
	// system's (a LAN appliance's self-signed CA: `haul tls ca`).
	CA string `json:"ca,omitempty"`
}

func (a *App) loginPath() string { return filepath.Join(a.Home, "login.json") }

// credentials reads the stored login with the environment's overrides.
func (a *App) credentials() (Credentials, error) {
	var cr Credentials
	b, err := os.ReadFile(a.loginPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return cr, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &cr); err != nil {
			return cr, fmt.Errorf("%s is damaged (%v): run haul login again", a.loginPath(), err)
		}
	}
	if v := a.Getenv("HAUL_AGENT_URL"); v != "" {
		cr.URL = v
	}
	if v := a.Getenv("HAUL_AGENT_API_KEY"); v != "" {
		cr.APIKey, cr.UserToken = v, ""
	}
	if v := a.Getenv("HAUL_AGENT_CA"); v != "" {
		cr.CA = v
	}
	return cr, nil
}

// mustLogin is credentials for commands that need a team credential.
func (a *App) mustLogin() (Credentials, error) {
	cr, err := a.credentials()
	if err != nil {
		return cr, err
	}
	if cr.URL == "" || (cr.APIKey == "" && cr.UserToken == "") {
		return cr, &Failure{Code: ExitAuth, Msg: "not logged in: run haul login --url URL --api-key KEY (or set HAUL_AGENT_URL and HAUL_AGENT_API_KEY)"}
	}
	return cr, nil
}

// resolveTeam fills in cr's team when the credential came from the
// environment: HAUL_AGENT_TEAM, else the credential's only (or first) team.
func (a *App) resolveTeam(ctx context.Context, c *client.Client, cr *Credentials) error {
	if v := a.Getenv("HAUL_AGENT_TEAM"); v != "" {
		cr.TeamID = v
	}
	if cr.TeamID != "" {
		return nil
	}
	teams, err := c.Teams(ctx)
	if err != nil {
		return err
	}
	if len(teams) == 0 {
		return &Failure{Code: ExitAuth, Msg: "this credential belongs to no team"}
	}
	cr.TeamID, cr.TeamName = teams[0].ID, teams[0].Name
	return nil
}

// httpClient is an HTTP client trusting the system's CAs and cr.CA.
func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	// A server that accepts a request and never answers is given up on
	// (and the request retried where that is safe).
	tr.ResponseHeaderTimeout = 2 * time.Minute
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fail(ExitUsage, err, "reading the CA certificate %s: %v", caFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("%s holds no PEM certificate (get it with `haul tls ca` on the server)", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// clientFor returns a client of cr's server with its credential.
func clientFor(cr Credentials) (*client.Client, error) {
	hc, err := httpClient(cr.CA)
	if err != nil {
		return nil, err
	}
	c := client.New(cr.URL)
	c.APIKey, c.UserToken, c.HTTP = cr.APIKey, cr.UserToken, hc
	return c, nil
}

func (a *App) login(ctx context.Context, args []string) error {
	fs := a.flags("login")
	var cr Credentials
	var pwStdin bool
	fs.StringVar(&cr.URL, "url", "", "the server, e.g. https://haul.studio.example")
	fs.StringVar(&cr.APIKey, "api-key", "", "an API key (made in the web UI or the API)")
	fs.StringVar(&cr.Email, "email", "", "log in with a user's email and password instead (asked for, or read from stdin)")
	fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	fs.StringVar(&cr.CA, "ca", "", "also trust this CA certificate (PEM; `haul tls ca` on a self-signed appliance)")
	fs.StringVar(&cr.TeamID, "team", "", "the team to work in (default: the only or first team)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if cr.URL == "" {
		cr.URL = a.Getenv("HAUL_AGENT_URL")
	}
	if cr.URL == "" || !(strings.HasPrefix(cr.URL, "http://") || strings.HasPrefix(cr.URL, "https://")) {
		return usageErr("--url must be the server's http:// or https:// address")
	}
	if (cr.APIKey == "") == (cr.Email == "") {
		return usageErr("give --api-key KEY, or --email EMAIL (the password is then asked for)")
	}
	if cr.CA != "" {
		abs, err := filepath.Abs(cr.CA)
		if err != nil {
			return err
		}
		cr.CA = abs
	}
	c, err := clientFor(cr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cr.Email != "" {
		pw, err := a.readPassword(pwStdin)
		if err != nil {
			return err
		}
		l, err := c.Login(ctx, cr.Email, pw)
		if err != nil {
			return err
		}
		cr.UserToken = l.Token
		c.UserToken = l.Token
	}
	teams, err := c.Teams(ctx)
	if err != nil {
		return err
	}
	if len(teams) == 0 {
		return &Failure{Code: ExitAuth, Msg: "this credential belongs to no team"}
	}
	pick := teams[0]
	for _, t := range teams {
		if t.ID == cr.TeamID {
			pick = t
		}
	}
	if cr.TeamID != "" && pick.ID != cr.TeamID {
		return usageErr("no team %s for this credential", cr.TeamID)
	}
	cr.TeamID, cr.TeamName = pick.ID, pick.Name
	if err := writeFileAtomic(a.loginPath(), mustJSON(cr), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "Logged in to %s, team %q. Stored in %s.\n", cr.URL, pick.Name, a.loginPath())
	if len(teams) > 1 && cr.TeamID == pick.ID {
		fmt.Fprintf(a.Stdout, "This credential has %d teams; use --team ID to pick another.\n", len(teams))
	}
	return nil
}

func (a *App) readPassword(fromStdin bool) (string, error) {
	if v := a.Getenv("HAUL_AGENT_PASSWORD"); v != "" {
		return v, nil
	}
	if fromStdin || !term.IsTerminal(int(os.Stdin.Fd())) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(a.Stderr, "Password: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(a.Stderr)
	return string(b), err
}

func (a *App) logout(ctx context.Context, args []string) error {
	fs := a.flags("logout")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cr, err := a.credentials()
	if err != nil {
		return err
	}
	if cr.UserToken != "" {
		if c, err := clientFor(cr); err == nil {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = c.Logout(ctx) // the token ends server-side too, when reachable
			cancel()
		}
	}
	if err := os.Remove(a.loginPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintln(a.Stdout, "Logged out.")
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// writeFileAtomic writes a file so that a crash leaves the old or the new
// content, never a mix: a temporary file, synced, renamed over it.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
