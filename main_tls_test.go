package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTLSServe starts haul serve in a TLS mode and waits until it
// answers over HTTPS to a client trusting roots() (asked again each try:
// a local CA appears only once the server made it).
func startTLSServe(t *testing.T, data string, roots func() *x509.CertPool, env ...string) (*proc, string) {
	t.Helper()
	addr, httpAddr := freePort(t), freePort(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	p := &proc{stdout: &lockedBuf{}, stderr: &lockedBuf{}, url: "https://localhost:" + port}
	env = append([]string{"HAUL_SERVER_PUBLIC_URL=" + p.url, "HAUL_TLS_HTTP_LISTEN=" + httpAddr,
		"HAUL_AUTH_ARGON2_MEMORY_KIB=8192", "HAUL_AUTH_ARGON2_TIME=1"}, env...)
	p.cmd = haul(t, env, "serve", "--data", data, "--listen", addr)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pool := roots(); pool != nil {
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if res, err := c.Get(p.url + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return p, httpAddr
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haul did not answer over HTTPS; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func poolOf(pemBytes []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil
	}
	return pool
}

// TestServeSelfSigned: haul serve with tls.mode = "self_signed" answers
// over HTTPS for localhost with a chain of its local CA (which haul tls
// ca prints), sends HSTS, and its plain-HTTP listener redirects.
func TestServeSelfSigned(t *testing.T) {
	data := t.TempDir()
	caFile := filepath.Join(data, "tls", "ca.crt")
	roots := func() *x509.CertPool {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil
		}
		return poolOf(b)
	}
	p, httpAddr := startTLSServe(t, data, roots, "HAUL_TLS_MODE=self_signed")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") == "" || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("HTTPS answer: %v %+v", res.Header, res.TLS)
	}
	res, err = c.Get("http://" + httpAddr + "/v1/system/packages/spec")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(res.Header.Get("Location"), "https://") {
		t.Fatalf("plain HTTP: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// Reached at its address (no server name sent): a certificate for the
	// address.
	ipClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots()}}}
	ipRes, err := ipClient.Get("https://127.0.0.1" + strings.TrimPrefix(p.url, "https://localhost") + "/healthz")
	if err == nil {
		ipRes.Body.Close()
	}
	if err != nil || ipRes.StatusCode != 200 {
		t.Fatalf("by address: %v", err)
	}
	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp", strings.TrimPrefix(p.url, "https://"), &tls.Config{RootCAs: roots(), MaxVersion: tls.VersionTLS11, ServerName: "localhost"}); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	p.stop(t)
	out, errOut, code := runHaul(t, nil, "tls", "ca", "--data", data)
	want, _ := os.ReadFile(caFile)
	if code != 0 || out != string(want) || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Fatalf("haul tls ca: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := runHaul(t, nil, "tls", "ca", "--data", t.TempDir()); code == 0 || !strings.Contains(errOut, "self_signed") {
		t.Fatalf("haul tls ca without a CA: %d %s", code, errOut)
	}
}

// writePair writes a self-signed certificate for localhost and its key.
func writePair(t *testing.T, dir string, serial int64) (certFile, keyFile string, pemCert []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pemCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(certFile, pemCert, 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, pemCert
}

// TestServeFilesReloadsOnSIGHUP: files mode serves the given pair and
// picks up a replaced pair on SIGHUP.
func TestServeFilesReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writePair(t, dir, 1)
	pool := poolOf(first)
	p, _ := startTLSServe(t, t.TempDir(), func() *x509.CertPool { return pool },
		"HAUL_TLS_MODE=files", "HAUL_TLS_CERT_FILE="+certFile, "HAUL_TLS_KEY_FILE="+keyFile)
	serial := func() int64 {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(p.url, "https://"), &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	writePair(t, dir, 2)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate was not picked up after SIGHUP; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop(t)
}
