package httpd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"haul/core"
	"haul/httpd"
)

// The names of the TLS tests: a main host and a portal domain, which a
// DNS server on loopback resolves to 127.0.0.1 for pebble's validations.
const (
	tlsHost   = "haul.test"
	tlsPortal = "portals.test"
)

// loopbackDNS answers every A query with 127.0.0.1 (and AAAA with
// nothing), so pebble validates challenges against haul's own listeners.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	// UDP and TCP on one port: resolvers use either.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: tl, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return tl.Addr().String()
}

// acmeCA is pebble in-process: its directory URL, the pool that trusts
// its HTTPS front, and the pool that trusts the certificates it issues.
type acmeCA struct {
	dir     string
	front   *x509.CertPool
	issued  *x509.CertPool
	newOrds func() int
}

// startPebble runs pebble with its validation authority checking
// challenges on the given ports of whatever loopbackDNS resolves.
func startPebble(t *testing.T, httpPort, tlsPort int) *acmeCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, loopbackDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	var orders atomic.Int64
	h := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "new-order") {
			orders.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	frontPool := x509.NewCertPool()
	frontPool.AddCert(srv.Certificate())
	issued := x509.NewCertPool()
	if !issued.AppendCertsFromPEM(authority.GetRootCert(0).PEM()) {
		t.Fatal("pebble's root is not PEM")
	}
	return &acmeCA{dir: srv.URL + "/dir", front: frontPool, issued: issued, newOrds: func() int { return int(orders.Load()) }}
}

// tlsClient dials every host to addr and verifies against roots.
func tlsClient(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: false,
	}}
}

// tlsEnv is a haul serving HTTPS with certificates from certs (swappable,
// so one test can try two configurations on the same listeners), and its
// plain-HTTP listener.
type tlsEnv struct {
	*env
	tlsAddr  string
	httpAddr string
	certs    atomic.Pointer[httpd.Certs]
	svc      atomic.Pointer[core.Service]
}

func newTLSEnv(t *testing.T, roots func(*tlsEnv) *x509.CertPool) *tlsEnv {
	t.Helper()
	te := &tlsEnv{}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	te.httpAddr = httpLn.Addr().String()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.certs.Load().HTTPHandler().ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(httpLn)
	t.Cleanup(func() { hs.Close() })
	conf := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return te.certs.Load().TLSConfig(), nil }}
	te.env = newEnv(t, func(o *envOptions) {
		o.config.PortalDomain = tlsPortal
		o.config.HSTS = true
		o.serveOn = func(ln net.Listener) (net.Listener, string) {
			te.tlsAddr = ln.Addr().String()
			return tls.NewListener(ln, conf), "https://" + tlsHost + ":" + strconv.Itoa(portNum(te.tlsAddr))
		}
		o.svcHook = func(s *core.Service) {
			te.svc.Store(s)
			s.OnPortalHostGone(func(sub string) { te.certs.Load().EvictPortal(sub) })
		}
		o.client = &http.Client{Transport: lazyTransport(func() http.RoundTripper { return tlsClient(te.tlsAddr, roots(te)).Transport })}
	})
	return te
}

type lazyTransport func() http.RoundTripper

func (f lazyTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f().RoundTrip(r) }

func portNum(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (te *tlsEnv) options(mode string) httpd.CertOptions {
	return httpd.CertOptions{Mode: mode, DataDir: te.t.(*testing.T).TempDir(), Hosts: []string{tlsHost}, PortalDomain: tlsPortal,
		Allow:    func(ctx context.Context, sub string) error { return te.svc.Load().PortalHostAllowed(ctx, sub) },
		HTTPPort: portNum(te.httpAddr), TLSPort: portNum(te.tlsAddr), Agreed: true, Email: "ops@studio.example"}
}

// handshake opens a TLS connection for name and returns the chain or the
// error.
func (te *tlsEnv) handshake(name string, roots *x509.CertPool) ([]*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", te.tlsAddr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates, nil
}

// TestACMEWithPebble: haul gets its certificates from pebble, which
// really validates HTTP-01 and TLS-ALPN-01 against haul's listeners;
// portal subdomains get theirs on demand, only while their portal is
// active; plain HTTP redirects.
func TestACMEWithPebble(t *testing.T) {
	var pb *acmeCA
	te := newTLSEnv(t, func(*tlsEnv) *x509.CertPool { return pb.issued })
	pb = startPebble(t, portNum(te.httpAddr), portNum(te.tlsAddr))
	ctx := t.Context()

	// HTTP-01 only: the main host at start.
	opt := te.options(httpd.TLSACME)
	opt.CAURL, opt.TrustedRoots, opt.WaitForHosts, opt.DisableTLSALPNChallenge = pb.dir, pb.front, true, true
	c1, err := httpd.NewCerts(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c1.Stop)
	te.certs.Store(c1)
	r := te.do("GET", "/healthz", nil)
	if r.Status != 200 || r.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over HTTPS: %d %v", r.Status, r.Header)
	}
	o := te.owner()

	// A portal's subdomain: a certificate at the first handshake; the
	// page loads over HTTPS.
	te.portal(o.Token, map[string]any{"name": "Vendors", "subdomain": "vendors"})
	portalHost := "vendors." + tlsPortal
	if chain, err := te.handshake(portalHost, pb.issued); err != nil || chain[0].DNSNames[0] != portalHost {
		t.Fatalf("on-demand certificate: %v", err)
	}
	page := te.raw("GET", "https://"+portalHost+"/", nil, -2)
	if page.Status != 200 || !strings.Contains(string(page.Body), "Vendors") {
		t.Fatalf("portal page over HTTPS: %d", page.Status)
	}

	// An unknown subdomain: no certificate, and no order is made.
	before := pb.newOrds()
	if _, err := te.handshake("nobody."+tlsPortal, pb.issued); err == nil {
		t.Fatal("a handshake for an unknown portal succeeded")
	}
	if _, err := te.handshake("evil.example", pb.issued); err == nil {
		t.Fatal("a handshake for a foreign name succeeded")
	}
	if pb.newOrds() != before || c1.Denied.Load() < 2 {
		t.Fatalf("orders %d → %d, denied %d", before, pb.newOrds(), c1.Denied.Load())
	}

	// Deactivated: the cached certificate is evicted, the handshake fails.
	pid := te.must(200, "GET", "/v1/subdomains/portals/vendors", nil).Map(t)["id"].(string)
	te.must(200, "PUT", "/v1/portals/"+pid, map[string]any{"active": false}, userToken(o.Token))
	if _, err := te.handshake(portalHost, pb.issued); err == nil {
		t.Fatal("a deactivated portal still gets a handshake")
	}

	// Plain HTTP redirects to HTTPS.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get("http://" + te.httpAddr + "/v1/openapi.json?x=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://127.0.0.1:") || !strings.HasSuffix(loc, "/v1/openapi.json?x=1") {
		t.Fatalf("redirect: %d %s", res.StatusCode, loc)
	}

	// TLS-ALPN-01 only, on the same listeners, a fresh certificate store.
	opt2 := te.options(httpd.TLSACME)
	opt2.CAURL, opt2.TrustedRoots, opt2.WaitForHosts, opt2.DisableHTTPChallenge = pb.dir, pb.front, true, true
	c2, err := httpd.NewCerts(ctx, opt2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Stop)
	te.certs.Store(c2)
	if chain, err := te.handshake(tlsHost, pb.issued); err != nil || chain[0].DNSNames[0] != tlsHost {
		t.Fatalf("main host after TLS-ALPN-01: %v", err)
	}
}

// TestSelfSignedTLS: a local CA's chain for the main host and a new
// portal, trusted by a client that trusts the CA (haul tls ca prints it);
// and the upload and download flows through TLS.
func TestSelfSignedTLS(t *testing.T) {
	var pool *x509.CertPool
	te := newTLSEnv(t, func(*tlsEnv) *x509.CertPool { return pool })
	opt := te.options(httpd.TLSSelfSigned)
	c, err := httpd.NewCerts(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	te.certs.Store(c)
	pem, err := httpd.ReadCA(opt.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file is not PEM")
	}
	o := te.owner()
	te.portal(o.Token, map[string]any{"name": "LAN drop", "subdomain": "lan"})
	if _, err := te.handshake("lan."+tlsPortal, pool); err != nil {
		t.Fatalf("a new portal's chain: %v", err)
	}
	if _, err := te.handshake("other."+tlsPortal, pool); err == nil {
		t.Fatal("an unknown portal got a certificate")
	}
	// A reopened CA is the same CA.
	again, err := httpd.NewCerts(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	te.certs.Store(again)
	if _, err := te.handshake(tlsHost, pool); err != nil {
		t.Fatalf("after reopening the CA: %v", err)
	}

	// Upload and download through TLS: parts stream through the TLS read
	// path, and the file streams back through the write path.
	data := randomData(77, 3<<20)
	pid, tok, fids := te.sentPackage(userToken(o.Token), "over TLS", map[string][]byte{"clip.mov": data})
	got := te.raw("GET", te.fileURL(pid, fids["clip.mov"], tok), nil, -2)
	if got.Status != 200 || string(got.Body) != string(data) {
		t.Fatalf("download over TLS: %d, %d bytes", got.Status, len(got.Body))
	}
	part := te.raw("GET", te.fileURL(pid, fids["clip.mov"], tok), nil, -2, header("Range", "bytes=1000000-1000099"))
	if part.Status != 206 || string(part.Body) != string(data[1000000:1000100]) {
		t.Fatalf("range over TLS: %d", part.Status)
	}
}
