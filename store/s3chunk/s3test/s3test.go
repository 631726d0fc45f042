// Package s3test starts a real S3 server for tests: versitygw
// (github.com/versity/versitygw, its posix backend) on loopback, over a
// fresh directory. `.ci/run` installs it; without it the tests are skipped
// with a loud message, unless CI is set, when they fail.
package s3test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Server is a running S3 server.
type Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Dir       string
	cmd       *exec.Cmd
	log       *logBuf
}

type logBuf struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

// Binary finds versitygw (HAUL_VERSITYGW, then PATH, then ~/go/bin).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HAUL_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, "go", "bin", "versitygw"); fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but versitygw is missing: .ci/run installs it (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	t.Skip("SKIPPED: no versitygw, so the S3 backend is untested here (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Start starts versitygw on a free loopback port over a fresh directory;
// it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{AccessKey: "HAULTESTACCESS", SecretKey: "haul-test-secret-key", Dir: t.TempDir()}
	s.start(t, Binary(t), freePort(t))
	return s
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *Server) start(t testing.TB, bin, addr string) {
	t.Helper()
	s.Endpoint = "http://" + addr
	s.log = &logBuf{}
	s.cmd = exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := s.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(s.Endpoint + "/")
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not start: %v\n%s", err, s.log.b)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// Stop kills the server (a crash, as far as clients can tell).
func (s *Server) Stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// Restart starts the server again on the same address and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t, Binary(t), s.Endpoint[len("http://"):])
}

// Env is the server as HAUL_STORAGE_* variables for haul serve.
func (s *Server) Env(bucket string) []string {
	return []string{"HAUL_STORAGE_BACKEND=s3", "HAUL_STORAGE_S3_ENDPOINT=" + s.Endpoint, "HAUL_STORAGE_S3_REGION=us-east-1",
		"HAUL_STORAGE_S3_BUCKET=" + bucket, "HAUL_STORAGE_S3_ACCESS_KEY=" + s.AccessKey, "HAUL_STORAGE_S3_SECRET_KEY=" + s.SecretKey,
		"HAUL_STORAGE_S3_PATH_STYLE=true"}
}

func (s *Server) String() string { return fmt.Sprintf("versitygw at %s over %s", s.Endpoint, s.Dir) }
