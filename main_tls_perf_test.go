//go:build !race

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"haul/client"
	"haul/httpd"
	"haul/store/chunk/chunktest"
)

// The HTTPS upload figure, measured by `make bench` (HAUL_BENCH=1) against
// haul serve in a child process with tls.mode = "self_signed" over
// loopback, the client trusting the data directory's local CA:
//
//	https upload   HAUL_BENCH_MIB (default 4096) MiB of unique data as one file through the whole
//	               API flow (create package, add file, multipart upload with 4 parts in flight of
//	               the server's default part size, finalize file and package)
//	https discard  the same bytes as the same PUTs (4 in flight, same part size, same client
//	               transport settings) into an in-process net/http TLS server, with a leaf of a
//	               local ECDSA P-256 CA like haul's, whose handler reads the body and drops it
//	http upload    the upload of the first row over plain HTTP (tls.mode = "off"), for context
//
// The three alternate three times; medians and spreads are printed, and
// the target is https upload / https discard ≥ 0.6.

// tlsBenchParallel and tlsBenchPart are the parts in flight and the part
// size (core's DefaultChunkSize, which UploadFile takes with chunkSize 0).
const (
	tlsBenchParallel = 4
	tlsBenchPart     = 100 << 20
)

// tlsBenchTransport is the client transport of both HTTPS runs: it trusts
// roots, dials addr whatever the URL's host, and speaks HTTP/1.1 (haul's
// listener offers only http/1.1). Everything else is net/http's default,
// as for an http.Client{} (the client package's own default) with a CA.
func tlsBenchTransport(addr string, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 2 * tlsBenchParallel,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// tlsState returns the TLS version and cipher suite a GET of u negotiates.
func tlsState(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	res, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.TLS == nil {
		t.Fatalf("GET %s: not over TLS", u)
	}
	return tls.VersionName(res.TLS.Version) + " " + tls.CipherSuiteName(res.TLS.CipherSuite)
}

// selfCPU is this process's user+system CPU time in seconds (the client,
// and the discard server when it runs).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// cpuFigure collects CPU seconds per GB of payload over the runs.
type cpuFigure struct{ client, server chunktest.Figure }

func (c *cpuFigure) String() string {
	s := fmt.Sprintf("client %4.2f", c.client.Med())
	if len(c.server.Runs) > 0 {
		s += fmt.Sprintf("  server %4.2f", c.server.Med())
	}
	return s
}

// startTLSBenchServer starts haul serve with tls.mode = "self_signed" on a
// free loopback port, public URL https://localhost:<port>, and returns it
// with a client that trusts the local CA (read from the data directory,
// as haul tls ca does).
func startTLSBenchServer(t *testing.T, data string) *benchServer {
	t.Helper()
	addr := freePort(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	url := "https://localhost:" + port
	p := &proc{stdout: &lockedBuf{}, stderr: &lockedBuf{}, url: url}
	env := []string{"HAUL_SERVER_PUBLIC_URL=" + url, "HAUL_AUTH_ARGON2_MEMORY_KIB=8192", "HAUL_AUTH_ARGON2_TIME=1",
		"HAUL_TLS_MODE=self_signed", "HAUL_TLS_HTTP_LISTEN=127.0.0.1:0",
		"HAUL_BOOTSTRAP_OWNER_EMAIL=" + benchEmail, "HAUL_BOOTSTRAP_OWNER_PASSWORD=" + benchPassword, "HAUL_LOG_LEVEL=warn"}
	p.cmd = haul(t, env, "serve", "--data", data, "--listen", addr)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	var roots *x509.CertPool
	var hc *http.Client
	for {
		if roots == nil {
			if pem, err := httpd.ReadCA(data); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					roots = pool
					hc = &http.Client{Transport: tlsBenchTransport(addr, roots)}
				}
			}
		}
		if hc != nil {
			res, err := hc.Get(url + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haul (self_signed) did not become ready over HTTPS; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := client.New(url)
	c.HTTP = hc
	ctx := context.Background()
	if _, err := c.Login(ctx, benchEmail, benchPassword); err != nil {
		t.Fatal(err)
	}
	teams, err := c.Teams(ctx)
	if err != nil || len(teams) == 0 {
		t.Fatalf("teams: %v %v", teams, err)
	}
	return &benchServer{p: p, c: c, teamID: teams[0].ID, data: data}
}

// discardServer is an in-process net/http HTTPS server whose handler
// reads request bodies and drops them: the ceiling of HTTPS uploads on
// this machine.
type discardServer struct {
	srv   *http.Server
	addr  string
	roots *x509.CertPool
	got   atomic.Int64
}

// benchCA makes a local ECDSA P-256 CA and a leaf for names, as haul's
// self_signed mode does.
func benchCA(t *testing.T, names ...string) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench local CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf}
}

func startDiscardServer(t *testing.T) *discardServer {
	t.Helper()
	roots, cert := benchCA(t, "localhost")
	// As haul's listener: TLS 1.2 at least (1.3 negotiated), Go's default
	// cipher preferences, http/1.1 only.
	conf := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{cert}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	d := &discardServer{addr: ln.Addr().String(), roots: roots}
	bufs := sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
	d.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A plain read loop into a 1 MiB buffer: io.CopyBuffer into
			// io.Discard would take io.Discard's ReadFrom and its 8 KiB
			// buffers instead.
			bp := bufs.Get().(*[]byte)
			defer bufs.Put(bp)
			var n int64
			for {
				k, err := r.Body.Read(*bp)
				n += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
			}
			if r.ContentLength >= 0 && n != r.ContentLength {
				http.Error(w, fmt.Sprintf("got %d of %d bytes", n, r.ContentLength), http.StatusBadRequest)
				return
			}
			d.got.Add(n)
			w.Header().Set("ETag", `"discarded"`)
			w.WriteHeader(http.StatusOK)
		}),
	}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("discard server: %v", err)
		}
	}()
	t.Cleanup(func() { d.srv.Close() })
	return d
}

// put sends src as PUTs of part bytes, parallel in flight, as the
// client's putParts does (a section reader per part, ContentLength set),
// with a fresh client transport; it returns the seconds it took.
func (d *discardServer) put(src *genData, part int64, parallel int) (float64, error) {
	tr := tlsBenchTransport(d.addr, d.roots)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := int((src.size + part - 1) / part)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	before := d.got.Load()
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				off := int64(k) * part
				size := min(part, src.size-off)
				req, err := http.NewRequestWithContext(ctx, "PUT", fmt.Sprintf("https://localhost/discard?partNumber=%d", k+1), io.NewSectionReader(src, off, size))
				if err == nil {
					req.ContentLength = size
					var res *http.Response
					if res, err = hc.Do(req); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 200 || res.Header.Get("ETag") == "" {
							err = fmt.Errorf("part %d: %s", k+1, res.Status)
						}
					}
				}
				if err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for k := range n {
		select {
		case jobs <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	secs := time.Since(start).Seconds()
	if first != nil {
		return 0, first
	}
	if got := d.got.Load() - before; got != src.size {
		return 0, fmt.Errorf("discard server got %d bytes, want %d", got, src.size)
	}
	return secs, nil
}

// benchUpload uploads src through s (the whole flow), checks the digest,
// stops the server (deleting its data), and returns the seconds the upload
// took; cpu gets the client's and the server's CPU seconds per GB.
func benchUpload(t *testing.T, s *benchServer, src *genData, want, what string, round int, cpu *cpuFigure) (float64, error) {
	t.Helper()
	cpu0 := selfCPU()
	got, secs, err := s.upload(t, "one.bin", src, tlsBenchParallel)
	clientCPU := selfCPU() - cpu0
	if err != nil {
		return 0, fmt.Errorf("%s upload round %d: %v\nserver log:\n%s", what, round, err, s.p.stderr.String())
	}
	if got != want {
		return 0, fmt.Errorf("%s upload round %d: digest %s, want %s", what, round, got, want)
	}
	// The server's CPU: startup and shutdown are small next to the upload.
	s.close(t)
	if s.c.HTTP != nil {
		s.c.HTTP.CloseIdleConnections()
	}
	gb := float64(src.size) / 1e9
	cpu.client.Add(clientCPU / gb)
	if ps := s.p.cmd.ProcessState; ps != nil {
		cpu.server.Add((ps.UserTime() + ps.SystemTime()).Seconds() / gb)
	}
	return secs, nil
}

func TestTLSUploadPerformance(t *testing.T) {
	if os.Getenv("HAUL_BENCH") == "" {
		t.Skip("set HAUL_BENCH=1 (make bench) to measure HTTPS uploads")
	}
	size := chunktest.BenchSize()
	base := t.TempDir()
	var out strings.Builder
	began := time.Now()

	src := newGenData(31, size)
	want := hexDigest(src)
	disc := startDiscardServer(t)
	up := &chunktest.Figure{Name: "https upload"}
	base0 := &chunktest.Figure{Name: "https discard"}
	plain := &chunktest.Figure{Name: "http upload"}
	var upTLS, discTLS string
	gb := float64(size) / 1e9
	upCPU, discCPU, plainCPU := &cpuFigure{}, &cpuFigure{}, &cpuFigure{}
	cpus := map[*chunktest.Figure]*cpuFigure{up: upCPU, base0: discCPU, plain: plainCPU}
	for round := range 3 {
		// The candidate: haul over HTTPS, a fresh data directory a round.
		s := startTLSBenchServer(t, filepath.Join(base, fmt.Sprint("tls", round)))
		if round == 0 {
			upTLS = tlsState(t, s.c.HTTP, s.p.url+"/readyz")
		}
		secs, err := benchUpload(t, s, src, want, "https", round, upCPU)
		if err != nil {
			t.Fatal(err)
		}
		up.Add(float64(size) / secs / 1e9)

		// The baseline: the same bytes, the same PUTs, dropped.
		if round == 0 {
			tr := tlsBenchTransport(disc.addr, disc.roots)
			discTLS = tlsState(t, &http.Client{Transport: tr}, "https://localhost/")
			tr.CloseIdleConnections()
		}
		cpu0 := selfCPU()
		secs, err = disc.put(src, tlsBenchPart, tlsBenchParallel)
		if err != nil {
			t.Fatalf("https discard round %d: %v", round, err)
		}
		discCPU.client.Add((selfCPU() - cpu0) / gb)
		base0.Add(float64(size) / secs / 1e9)

		// For context: the same upload over plain HTTP.
		s = startBenchServer(t, filepath.Join(base, fmt.Sprint("plain", round)))
		if secs, err = benchUpload(t, s, src, want, "http", round, plainCPU); err != nil {
			t.Fatal(err)
		}
		plain.Add(float64(size) / secs / 1e9)
	}
	fmt.Fprintf(&out, "\nuploads through haul serve over loopback HTTPS (self_signed), %d MiB, %d parts of %d MiB in flight, 3 alternating runs (GB/s: median [spread])\n",
		size>>20, tlsBenchParallel, tlsBenchPart>>20)
	fmt.Fprintf(&out, "  negotiated: haul %s; discard %s (HTTP/1.1)\n", upTLS, discTLS)
	for _, f := range []*chunktest.Figure{up, base0, plain} {
		fmt.Fprintf(&out, "  %-22s %6.2f  [%3.0f%%]  runs %-16s CPU s/GB: %s\n", f.Name, f.Med(), 100*f.Spread(), f.RunsString(), cpus[f])
	}
	ratio := up.Med() / base0.Med()
	mark := "ok"
	if ratio < 0.6 {
		mark = "BELOW TARGET"
	}
	fmt.Fprintf(&out, "  %-44s %5.2f  (target ≥ 0.60)  %s\n", "HTTPS upload / HTTPS discard", ratio, mark)
	fmt.Fprintf(&out, "  %-44s %5.2f  (for context)\n", "HTTPS upload / HTTP upload", up.Med()/plain.Med())
	fmt.Fprintf(&out, "  (bench took %v)\n", time.Since(began).Round(time.Second))
	fmt.Print(out.String())
}
