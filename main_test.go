package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as haul itself when HAUL_TEST_MAIN is
// set, so these tests run the real command in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("HAUL_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUsageAndVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "haul serve") {
		t.Fatalf("no arguments: err=%v, out=%q; want usage", err, out.String())
	}
	out.Reset()
	if err := run([]string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "haul ") {
		t.Fatalf("version: err=%v out=%q", err, out.String())
	}
	if err := run([]string{"frobnicate"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown command: err=%v, want a pointer to usage", err)
	}
}

// proc is a haul child process.
type proc struct {
	cmd    *exec.Cmd
	stdout *lockedBuf
	stderr *lockedBuf
	url    string
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func haul(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "HAUL_TEST_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func startServe(t *testing.T, data string, env ...string) *proc {
	t.Helper()
	return startServeAt(t, data, freePort(t), env...)
}

// startServeAt is startServe on a given address (a restart on the same
// port).
func startServeAt(t *testing.T, data, addr string, env ...string) *proc {
	t.Helper()
	p := &proc{stdout: &lockedBuf{}, stderr: &lockedBuf{}, url: "http://" + addr}
	// Cheap hashing by default; the caller's env comes later and wins.
	env = append([]string{"HAUL_SERVER_PUBLIC_URL=" + p.url, "HAUL_AUTH_ARGON2_MEMORY_KIB=8192", "HAUL_AUTH_ARGON2_TIME=1"}, env...)
	p.cmd = haul(t, env, "serve", "--data", data, "--listen", addr)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haul did not become ready; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("haul exited with %v; stderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("haul did not stop within 20s of SIGTERM; stderr:\n%s", p.stderr.String())
	}
}

func login(t *testing.T, url, email, password string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	res, err := http.Post(url+"/v1/auth", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out.Token
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	return send(t, "GET", url, token, "")
}

// send makes a request with a user token and an optional JSON body and
// returns the status.
func send(t *testing.T, method, url, token, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-User-Token", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// changePassword replaces a generated password, which haul requires
// before anything but the profile, the password change and logout.
func changePassword(t *testing.T, url, token, current, next string) {
	t.Helper()
	body := fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, current, next)
	if st := send(t, "PUT", url+"/v1/users/me/password", token, body); st != 204 {
		t.Fatalf("changing the generated password: status %d, want 204", st)
	}
}

var printedLogin = regexp.MustCompile(`Email:\s+(\S+)\s+Password:\s+(\S+)`)

// TestServeFirstStartRestartAndAdmin walks an operator's first day: the
// first start prints a working login, a token survives a restart (the
// signing keys are kept), SIGTERM stops cleanly, and the admin commands
// work on the stopped server's data.
func TestServeFirstStartRestartAndAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, data)
	m := printedLogin.FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("first start printed no login:\n%s", p.stdout.String())
	}
	email, password := m[1], m[2]
	status, token := login(t, p.url, email, password)
	if status != 200 || token == "" {
		t.Fatalf("printed login does not work: %d", status)
	}
	if _, err := os.Stat(filepath.Join(data, "meta")); err != nil {
		t.Fatalf("data directory not created: %v", err)
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "haul stopped") {
		t.Errorf("no clean-stop line in the log:\n%s", p.stderr.String())
	}
	if strings.Contains(p.stderr.String(), password) || strings.Contains(p.stderr.String(), token) {
		t.Error("the log contains the owner's password or token")
	}

	p2 := startServe(t, data)
	if strings.Contains(p2.stdout.String(), "Password:") {
		t.Errorf("second start printed a password again:\n%s", p2.stdout.String())
	}
	// The token survived the restart; the generated password must be
	// changed before it may do more than read the profile.
	if got := get(t, p2.url+"/v1/users/me", token); got != 200 {
		t.Fatalf("token from before the restart: status %d, want 200", got)
	}
	if got := get(t, p2.url+"/v1/teams", token); got != 403 {
		t.Fatalf("teams before changing the generated password: status %d, want 403", got)
	}
	const chosen = "owner-chose-this-1"
	changePassword(t, p2.url, token, password, chosen)
	if got := get(t, p2.url+"/v1/teams", token); got != 200 {
		t.Fatalf("teams after changing the generated password: status %d, want 200", got)
	}
	p2.stop(t)

	out, err := haul(t, nil, "admin", "reset-password", "--data", data, "--email", email).CombinedOutput()
	if err != nil {
		t.Fatalf("reset-password: %v\n%s", err, out)
	}
	np := regexp.MustCompile(`New password for \S+: (\S+)`).FindStringSubmatch(string(out))
	if np == nil {
		t.Fatalf("reset-password printed no password:\n%s", out)
	}
	out, err = haul(t, nil, "admin", "create-team", "--data", data, "--name", "Second Unit", "--owner-email", "second@studio.example").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `Created team "Second Unit"`) {
		t.Fatalf("create-team: %v\n%s", err, out)
	}
	out, err = haul(t, nil, "admin", "list-users", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), email) || !strings.Contains(string(out), "second@studio.example") || !strings.Contains(string(out), "Second Unit (owner)") {
		t.Fatalf("list-users: %v\n%s", err, out)
	}
	out, err = haul(t, nil, "admin", "rotate-keys", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "New signing key") {
		t.Fatalf("rotate-keys: %v\n%s", err, out)
	}

	p3 := startServe(t, data)
	for _, old := range []string{password, chosen} {
		if st, _ := login(t, p3.url, email, old); st != 401 {
			t.Errorf("old password after reset: status %d, want 401", st)
		}
	}
	st, tok3 := login(t, p3.url, email, np[1])
	if st != 200 {
		t.Fatalf("reset password does not work: %d", st)
	}
	if got := get(t, p3.url+"/v1/users/me", tok3); got != 200 {
		t.Fatalf("token signed after rotation: %d", got)
	}
	// The reset generated the password, so it must be changed again.
	if got := get(t, p3.url+"/v1/teams", tok3); got != 403 {
		t.Fatalf("teams with a reset (generated) password: status %d, want 403", got)
	}
	changePassword(t, p3.url, tok3, np[1], "owner-chose-again-1")
	if got := get(t, p3.url+"/v1/teams", tok3); got != 200 {
		t.Fatalf("teams after changing the reset password: status %d, want 200", got)
	}
	if got := get(t, p3.url+"/v1/teams", token); got != 401 {
		t.Errorf("token of a session ended by the reset: %d, want 401", got)
	}
	p3.stop(t)
}

// TestGracefulShutdownFinishesInFlight: a request in progress when SIGTERM
// arrives still gets its answer.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	data := t.TempDir()
	p := startServe(t, data, "HAUL_BOOTSTRAP_OWNER_EMAIL=boss@studio.example", "HAUL_BOOTSTRAP_OWNER_PASSWORD=boss-password-1")
	if st, _ := login(t, p.url, "boss@studio.example", "boss-password-1"); st != 200 {
		t.Fatalf("owner from HAUL_BOOTSTRAP_OWNER_*: login status %d", st)
	}
	p.stop(t)
	// With a costly hash, a login for an unknown account (checked against
	// the dummy hash at the configured cost) is a long in-flight request.
	p = startServe(t, data, "HAUL_AUTH_ARGON2_MEMORY_KIB=262144", "HAUL_AUTH_ARGON2_TIME=8")
	type result struct {
		status int
		err    error
		at     time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Post(p.url+"/v1/auth", "application/json", strings.NewReader(`{"email":"nobody@studio.example","password":"whatever-123"}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		res.Body.Close()
		done <- result{status: res.StatusCode, at: time.Now()}
	}()
	time.Sleep(200 * time.Millisecond)
	signalled := time.Now()
	p.stop(t)
	r := <-done
	if r.err != nil || r.status != 401 {
		t.Fatalf("in-flight login during shutdown: %+v, want a 401 answer", r)
	}
	if !r.at.After(signalled) {
		t.Skip("the login finished before SIGTERM; the machine is too fast for this check")
	}
}

func TestBadConfigNamesKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haul.toml")
	os.WriteFile(cfg, []byte("[server]\nlistn = \":1\"\n"), 0o600)
	err := run([]string{"serve", "--config", cfg, "--data", dir}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "server.listn") {
		t.Fatalf("err = %v, want one naming server.listn", err)
	}
}
