package httpd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// TLS modes ([tls] mode).
const (
	TLSOff        = "off"
	TLSACME       = "acme"
	TLSSelfSigned = "self_signed"
	TLSFiles      = "files"
)

// CertOptions configure HTTPS.
type CertOptions struct {
	Mode string // acme, self_signed or files
	// DataDir holds certificates and the local CA, under <DataDir>/tls.
	DataDir string
	// Hosts are the main host names (public URL, download host): managed
	// from the start in acme mode, always allowed.
	Hosts []string
	// PortalDomain: <one label>.<PortalDomain> gets a certificate at its
	// first handshake when Allow says so (an existing, active portal).
	PortalDomain string
	Allow        func(ctx context.Context, subdomain string) error
	// ACME account and directory (empty CAURL: Let's Encrypt).
	Email  string
	CAURL  string
	Agreed bool
	// TrustedRoots, when set, are the roots the ACME directory's own TLS
	// certificate chains to (a private or test CA).
	TrustedRoots *x509.CertPool
	// HTTPPort and TLSPort are where haul's own listeners answer the
	// HTTP-01 and TLS-ALPN-01 challenges (80 and 443 in production).
	HTTPPort, TLSPort int
	// DisableHTTPChallenge and DisableTLSALPNChallenge leave one challenge
	// type to the other (tests check each).
	DisableHTTPChallenge, DisableTLSALPNChallenge bool
	// WaitForHosts obtains the main hosts' certificates before NewCerts
	// returns (tests); otherwise in the background.
	WaitForHosts bool
	// CertFile and KeyFile are the pair of files mode.
	CertFile, KeyFile string
	Logger            *slog.Logger
}

// Certs provides the certificates of haul's HTTPS listener in one of three
// modes: ACME (certmagic: main hosts at start, portal subdomains on demand,
// renewals, storage under the data directory), a local CA minting leaf
// certificates (self_signed), or a certificate and key from files
// (reloaded on SIGHUP).
type Certs struct {
	opt   CertOptions
	log   *slog.Logger
	magic *certmagic.Config
	cache *certmagic.Cache
	acme  *certmagic.ACMEIssuer
	ca    *localCA
	file  atomic.Pointer[tls.Certificate]
	conf  *tls.Config
	// Denied counts names refused a certificate (an unknown or inactive
	// portal): no order is made for them.
	Denied atomic.Int64
}

// NewCerts sets up certificates for mode.
func NewCerts(ctx context.Context, opt CertOptions) (*Certs, error) {
	c := &Certs{opt: opt, log: opt.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(opt.DataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: creating %s: %w", dir, err)
	}
	c.conf = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	switch opt.Mode {
	case TLSACME:
		if err := c.setupACME(ctx, dir); err != nil {
			return nil, err
		}
	case TLSSelfSigned:
		ca, err := loadOrCreateCA(dir, c.caDomains())
		if err != nil {
			return nil, err
		}
		c.ca = ca
		c.conf.GetCertificate = c.selfSigned
	case TLSFiles:
		if err := c.Reload(); err != nil {
			return nil, err
		}
		c.conf.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.file.Load(), nil }
	default:
		return nil, fmt.Errorf("tls: mode %q is not acme, self_signed or files", opt.Mode)
	}
	return c, nil
}

func (c *Certs) setupACME(ctx context.Context, dir string) error {
	zl := zap.NewNop()
	if os.Getenv("HAUL_TLS_DEBUG") != "" {
		zl, _ = zap.NewDevelopment()
	}
	c.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return c.magic, nil },
		Logger:           zl,
	})
	c.magic = certmagic.New(c.cache, certmagic.Config{
		Storage:  &certmagic.FileStorage{Path: filepath.Join(dir, "acme")},
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: c.decide},
		OCSP:     certmagic.OCSPConfig{DisableStapling: true},
		Logger:   zl,
	})
	ca := c.opt.CAURL
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	c.acme = certmagic.NewACMEIssuer(c.magic, certmagic.ACMEIssuer{
		CA: ca, Email: c.opt.Email, Agreed: c.opt.Agreed, TrustedRoots: c.opt.TrustedRoots,
		DisableHTTPChallenge: c.opt.DisableHTTPChallenge, DisableTLSALPNChallenge: c.opt.DisableTLSALPNChallenge,
		// haul's own listeners answer: certmagic finds the ports taken and
		// leaves the challenges to HTTPHandler and the TLS config.
		AltHTTPPort: c.opt.HTTPPort, AltTLSALPNPort: c.opt.TLSPort,
		Logger: zl,
	})
	c.magic.Issuers = []certmagic.Issuer{c.acme}
	tc := c.magic.TLSConfig()
	c.conf.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := tc.GetCertificate(hello)
		if err != nil {
			c.log.Info("no certificate for a handshake", "server_name", hello.ServerName, "err", err)
		}
		return cert, err
	}
	c.conf.NextProtos = append(c.conf.NextProtos, tc.NextProtos...) // acme-tls/1
	if len(c.opt.Hosts) == 0 {
		return nil
	}
	if c.opt.WaitForHosts {
		if err := c.magic.ManageSync(ctx, c.opt.Hosts); err != nil {
			return fmt.Errorf("tls: obtaining certificates for %v from %s: %w", c.opt.Hosts, ca, err)
		}
		return nil
	}
	// In the background: a CA that is down at start must not keep haul
	// down; the first handshake tries again.
	if err := c.magic.ManageAsync(ctx, c.opt.Hosts); err != nil {
		return fmt.Errorf("tls: managing %v: %w", c.opt.Hosts, err)
	}
	return nil
}

// decide says whether a name may get a certificate: a main host, or a
// portal subdomain that Allow accepts.
func (c *Certs) decide(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, h := range c.opt.Hosts {
		if strings.EqualFold(h, name) {
			return nil
		}
	}
	if sub, ok := c.portalSub(name); ok && c.opt.Allow != nil {
		if err := c.opt.Allow(ctx, sub); err != nil {
			c.Denied.Add(1)
			return fmt.Errorf("no certificate for %s: %w", name, err)
		}
		return nil
	}
	c.Denied.Add(1)
	return fmt.Errorf("no certificate for %s: not a host of this haul", name)
}

func (c *Certs) portalSub(name string) (string, bool) {
	if c.opt.PortalDomain == "" {
		return "", false
	}
	sub, ok := strings.CutSuffix(name, "."+strings.ToLower(c.opt.PortalDomain))
	return sub, ok && sub != "" && !strings.Contains(sub, ".")
}

// TLSConfig is the HTTPS listener's configuration: TLS 1.2 at least.
func (c *Certs) TLSConfig() *tls.Config { return c.conf }

// HTTPHandler serves the plain-HTTP listener when TLS is on: ACME HTTP-01
// challenges, and a redirect to HTTPS for everything else.
func (c *Certs) HTTPHandler() http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if c.opt.TLSPort != 0 && c.opt.TLSPort != 443 {
			host = net.JoinHostPort(host, fmt.Sprint(c.opt.TLSPort))
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	if c.acme != nil {
		return c.acme.HTTPChallengeHandler(redirect)
	}
	return redirect
}

// Evict forgets the certificate of a name that no longer qualifies (a
// portal renamed, deactivated or deleted): certmagic would otherwise keep
// serving a cached certificate without asking the decision again.
func (c *Certs) Evict(ctx context.Context, name string) {
	name = strings.ToLower(name)
	switch {
	case c.cache != nil:
		c.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
		prefix := certmagic.StorageKeys.CertsSitePrefix(c.acme.IssuerKey(), name)
		if err := c.magic.Storage.Delete(ctx, prefix); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("deleting a stored certificate", "name", name, "err", err)
		}
	case c.ca != nil:
		c.ca.forget(name)
	}
}

// EvictPortal evicts a portal subdomain's certificate.
func (c *Certs) EvictPortal(sub string) {
	if c.opt.PortalDomain != "" {
		c.Evict(context.Background(), sub+"."+c.opt.PortalDomain)
	}
}

// Reload reads the files of files mode again (SIGHUP).
func (c *Certs) Reload() error {
	if c.opt.Mode != TLSFiles {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.opt.CertFile, c.opt.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", c.opt.CertFile, c.opt.KeyFile, err)
	}
	c.file.Store(&pair)
	return nil
}

// Stop ends certificate maintenance.
func (c *Certs) Stop() {
	if c.cache != nil {
		c.cache.Stop()
	}
}

// selfSigned mints (once per name) a leaf certificate of the local CA.
func (c *Certs) selfSigned(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if name == "" {
		// A client connecting to an address sends no name (a LAN box
		// reached at https://192.168.1.10): the certificate is for the
		// address it connected to.
		if hello.Conn == nil {
			return nil, errors.New("tls: no server name and no connection")
		}
		host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String())
		if err != nil {
			return nil, err
		}
		return c.ca.leaf(host)
	}
	if err := c.decide(hello.Context(), name); err != nil {
		return nil, err
	}
	return c.ca.leaf(name)
}

// localCA is self_signed mode's certificate authority: created once under
// the data directory; it mints leaf certificates in memory.
type localCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pemCrt []byte
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// CAFile is the local CA's certificate, under <data dir>/tls.
const CAFile = "ca.crt"

// caDomains are the names the local CA may sign for: the main hosts and
// the portal domain (with their subdomains).
func (c *Certs) caDomains() []string {
	var out []string
	for _, h := range append(append([]string{}, c.opt.Hosts...), c.opt.PortalDomain) {
		if h != "" && net.ParseIP(h) == nil && !slices.Contains(out, strings.ToLower(h)) {
			out = append(out, strings.ToLower(h))
		}
	}
	return out
}

// caIPRanges are the addresses the local CA may sign for: loopback and
// private ranges (a LAN box reached by address), never public ones.
var caIPRanges = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// loadOrCreateCA loads the local CA, or makes it (only when none exists:
// a CA that cannot be read is an error, never silently replaced). The CA
// is name-constrained to domains and private addresses, so its key can
// sign for nothing else, whoever trusts it.
func loadOrCreateCA(dir string, domains []string) (*localCA, error) {
	crtPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, "ca.key")
	crt, err := os.ReadFile(crtPath)
	switch {
	case err == nil:
		if st, err := os.Stat(keyPath); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("tls: the local CA's key %s is readable by others (mode %v): chmod 600 it", keyPath, st.Mode().Perm())
		}
		key, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("tls: the local CA's key %s: %w", keyPath, err)
		}
		ca, err := parseCA(crt, key)
		if err != nil {
			return nil, err
		}
		for _, d := range domains {
			if len(ca.cert.PermittedDNSDomains) > 0 && !permitted(ca.cert.PermittedDNSDomains, d) {
				return nil, fmt.Errorf("tls: the local CA in %s was made for %v, not %s: move ca.crt and ca.key away to make a new CA (clients must then trust the new one)", dir, ca.cert.PermittedDNSDomains, d)
			}
		}
		return ca, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tls: reading the local CA %s: %w", crtPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "haul local CA", Organization: []string{"haul"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, PermittedDNSDomainsCritical: true,
		PermittedDNSDomains: domains, PermittedIPRanges: caIPRanges}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	crt = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(keyPath, kp, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(crtPath, crt, 0o644); err != nil {
		return nil, err
	}
	return parseCA(crt, kp)
}

func parseCA(crtPEM, keyPEM []byte) (*localCA, error) {
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("tls: the local CA's files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &localCA{cert: cert, key: key, pemCrt: crtPEM, leaves: map[string]*tls.Certificate{}}, nil
}

// ReadCA returns the PEM certificate of a data directory's local CA.
func ReadCA(dataDir string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dataDir, "tls", CAFile))
}

// leafLifetime is how long a minted leaf is valid; it is minted again
// when less than a third is left.
const leafLifetime = 90 * 24 * time.Hour

func (ca *localCA) leaf(name string) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if l := ca.leaves[name]; l != nil && time.Until(l.Leaf.NotAfter) > leafLifetime/3 {
		return l, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(leafLifetime), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	l := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
	ca.leaves[name] = l
	return l, nil
}

func (ca *localCA) forget(name string) {
	ca.mu.Lock()
	delete(ca.leaves, name)
	ca.mu.Unlock()
}

// permitted reports whether name is within one of the constraint domains.
func permitted(domains []string, name string) bool {
	for _, d := range domains {
		if strings.EqualFold(name, d) || strings.HasSuffix(strings.ToLower(name), "."+strings.ToLower(d)) {
			return true
		}
	}
	return false
}
