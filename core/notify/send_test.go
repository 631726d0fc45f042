package notify

import (
	"bytes"
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
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message accepted by the test server.
type received struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
}

// backend records messages; with user set it requires PLAIN auth.
type backend struct {
	user, pass string
	mu         sync.Mutex
	msgs       []received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, c: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b    *backend
	c    *smtp.Conn
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.pass {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = received{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	_, s.cur.TLS = s.c.TLSConnectionState()
	s.cur.AuthUser = s.user
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

type serverOpts struct {
	user, pass string
	tls        *tls.Config // offered with STARTTLS, or from the first byte with implicit
	implicit   bool
}

// startServer runs a go-smtp server on 127.0.0.1 and returns its port.
func startServer(t *testing.T, o serverOpts) (*backend, int) {
	t.Helper()
	be := &backend{user: o.user, pass: o.pass}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = o.tls == nil
	s.TLSConfig = o.tls
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit {
		l = tls.NewListener(l, o.tls)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return be, l.Addr().(*net.TCPAddr).Port
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "haul test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func testMail(t *testing.T) *Mail {
	t.Helper()
	d := full(KindRecipientLink)
	d.PackageName = "Dailies"
	d.To = []string{"ed@post.example", "Producer <prod@post.example>"}
	m, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parsed is a received message, decoded.
type parsed struct {
	From, Subject string
	To            []string
	Text, HTML    string
	Header        mail.Header
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("message: %v\n%s", err, data)
	}
	var p parsed
	p.Header = msg.Header
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("From %q: %v", msg.Header.Get("From"), err)
	}
	p.From = from[0].Address
	to, err := msg.Header.AddressList("To")
	if err != nil {
		t.Fatalf("To %q: %v", msg.Header.Get("To"), err)
	}
	for _, a := range to {
		p.To = append(p.To, a.Address)
	}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		if cs := strings.ToLower(pp["charset"]); cs != "utf-8" {
			t.Errorf("%s charset %q", pt, cs)
		}
		body, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, pt)
		switch pt {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %q, want text/plain then text/html", types)
	}
	return p
}

func checkDelivered(t *testing.T, be *backend, m *Mail) received {
	t.Helper()
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received", len(msgs))
	}
	r := msgs[0]
	if r.From != "haul@studio.example" {
		t.Errorf("MAIL FROM %q", r.From)
	}
	if strings.Join(r.To, ",") != "ed@post.example,prod@post.example" {
		t.Errorf("RCPT TO %q", r.To)
	}
	p := parse(t, r.Data)
	if p.From != "haul@studio.example" {
		t.Errorf("From %q", p.From)
	}
	if strings.Join(p.To, ",") != "ed@post.example,prod@post.example" {
		t.Errorf("To %q", p.To)
	}
	if p.Subject != m.Subject || p.Subject != "Dailies from dit@vendor.example is ready to download" {
		t.Errorf("Subject %q", p.Subject)
	}
	if p.Header.Get("Date") == "" || p.Header.Get("Message-Id") == "" {
		t.Errorf("Date %q Message-ID %q", p.Header.Get("Date"), p.Header.Get("Message-Id"))
	}
	if p.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q", p.Header.Get("Auto-Submitted"))
	}
	if !strings.Contains(p.Text, testLink) {
		t.Errorf("text part lacks the link:\n%s", p.Text)
	}
	if !strings.Contains(p.HTML, `href="https://haul.example/d/0123ABC?t=x1&amp;sig=y2"`) {
		t.Errorf("HTML part lacks the link:\n%s", p.HTML)
	}
	// On the wire lines end in CRLF.
	if crlf := strings.ReplaceAll; crlf(p.Text, "\r\n", "\n") != m.Text || crlf(p.HTML, "\r\n", "\n") != m.HTML {
		t.Errorf("parts differ from the rendered mail:\n%q\n%q", p.Text, m.Text)
	}
	return r
}

func newSender(t *testing.T, s SMTP) *Sender {
	t.Helper()
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.From == "" {
		s.From = "haul <haul@studio.example>"
	}
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	snd, err := NewSender(s)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

func TestSendNoTLSWithAuth(t *testing.T) {
	be, port := startServer(t, serverOpts{user: "haul", pass: "s3cret"})
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Username: "haul", Password: "s3cret"})
	m := testMail(t)
	if err := snd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := checkDelivered(t, be, m)
	if r.AuthUser != "haul" || r.TLS {
		t.Errorf("auth %q tls %v", r.AuthUser, r.TLS)
	}
}

func TestSendNoTLSNoAuth(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, From: "haul@studio.example"})
	m := testMail(t)
	if err := snd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, be, m)
}

func TestSendStartTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	be, port := startServer(t, serverOpts{user: "haul", pass: "s3cret", tls: cfg})
	snd := newSender(t, SMTP{Port: port, TLS: TLSStartTLS, Username: "haul", Password: "s3cret", RootCAs: pool})
	m := testMail(t)
	if err := snd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := checkDelivered(t, be, m)
	if !r.TLS || r.AuthUser != "haul" {
		t.Errorf("tls %v auth %q", r.TLS, r.AuthUser)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	be, port := startServer(t, serverOpts{user: "haul", pass: "s3cret", tls: cfg, implicit: true})
	snd := newSender(t, SMTP{Port: port, TLS: TLSImplicit, Username: "haul", Password: "s3cret", RootCAs: pool})
	m := testMail(t)
	if err := snd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := checkDelivered(t, be, m)
	if !r.TLS || r.AuthUser != "haul" {
		t.Errorf("tls %v auth %q", r.TLS, r.AuthUser)
	}
}

func TestSendInsecureSkipVerify(t *testing.T) {
	cfg, _ := selfSigned(t)
	be, port := startServer(t, serverOpts{tls: cfg})
	snd := newSender(t, SMTP{Port: port, InsecureSkipVerify: true})
	if err := snd.Send(context.Background(), testMail(t)); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Fatalf("received %+v", msgs)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	cfg, _ := selfSigned(t)
	be, port := startServer(t, serverOpts{tls: cfg})
	snd := newSender(t, SMTP{Port: port, TLS: TLSStartTLS})
	err := snd.Send(context.Background(), testMail(t))
	var uerr x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &uerr) {
		t.Fatalf("Send: %v; want an unknown-authority error", err)
	}
	if len(be.messages()) != 0 {
		t.Fatal("delivered despite the untrusted certificate")
	}
}

func TestSendStartTLSNotOffered(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	snd := newSender(t, SMTP{Port: port, TLS: TLSStartTLS})
	err := snd.Send(context.Background(), testMail(t))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send: %v; want a STARTTLS error", err)
	}
	if len(be.messages()) != 0 {
		t.Fatal("delivered in clear text")
	}
}

func TestSendAuthFailure(t *testing.T) {
	be, port := startServer(t, serverOpts{user: "haul", pass: "s3cret"})
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Username: "haul", Password: "wrong-pa55word"})
	err := snd.Send(context.Background(), testMail(t))
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	if strings.Contains(err.Error(), "wrong-pa55word") {
		t.Errorf("error leaks the password: %v", err)
	}
	if want := fmt.Sprintf("smtp 127.0.0.1:%d: ", port); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if len(be.messages()) != 0 {
		t.Fatal("delivered")
	}
}

func TestSendServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Timeout: 3 * time.Second})
	start := time.Now()
	err = snd.Send(context.Background(), testMail(t))
	if err == nil {
		t.Fatal("Send succeeded with no server")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %s", d)
	}
	if want := fmt.Sprintf("smtp 127.0.0.1:%d: ", port); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestSendTimeout(t *testing.T) {
	port := silentServer(t)
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Timeout: 300 * time.Millisecond})
	start := time.Now()
	err := snd.Send(context.Background(), testMail(t))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %s with a 300ms timeout", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send: %v; want a deadline error", err)
	}
}

func TestSendCancel(t *testing.T) {
	port := silentServer(t)
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := snd.Send(ctx, testMail(t))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %s after cancel", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v; want context.Canceled", err)
	}
}

func TestSendConcurrent(t *testing.T) {
	be, port := startServer(t, serverOpts{user: "haul", pass: "s3cret"})
	snd := newSender(t, SMTP{Port: port, TLS: TLSNone, Username: "haul", Password: "s3cret"})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			d := full(KindInvitation)
			d.To = []string{fmt.Sprintf("user%d@post.example", i)}
			m, err := Render(d)
			if err == nil {
				err = snd.Send(context.Background(), m)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(be.messages()); got != n {
		t.Fatalf("%d messages received, want %d", got, n)
	}
}

func TestSendRejectsBadMail(t *testing.T) {
	snd := newSender(t, SMTP{Port: 1, TLS: TLSNone})
	for name, m := range map[string]*Mail{
		"nil":          nil,
		"no recipient": {Subject: "x", Text: "x"},
		"no body":      {To: []string{"a@b.example"}, Subject: "x"},
		"bad address":  {To: []string{"not an address"}, Subject: "x", Text: "x"},
	} {
		if err := snd.Send(context.Background(), m); err == nil {
			t.Errorf("%s: Send succeeded", name)
		}
	}
}

func TestNewSender(t *testing.T) {
	ok := SMTP{Host: "mail.example", From: "haul@studio.example"}
	s, err := NewSender(ok)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "mail.example:587" || s.cfg.TLS != TLSStartTLS || s.cfg.Timeout != DefaultTimeout {
		t.Errorf("defaults: %s %s %s", s.Addr(), s.cfg.TLS, s.cfg.Timeout)
	}
	for tlsMode, port := range map[string]int{TLSImplicit: 465, TLSNone: 25, "STARTTLS": 587} {
		c := ok
		c.TLS = tlsMode
		if s, err := NewSender(c); err != nil || s.cfg.Port != port {
			t.Errorf("%s: port %v, %v", tlsMode, s, err)
		}
	}
	c := ok
	c.Host = "::1"
	if s, err := NewSender(c); err != nil || s.Addr() != "[::1]:587" {
		t.Errorf("IPv6: %v %v", s, err)
	}

	bad := map[string]func(*SMTP){
		"no host":            func(c *SMTP) { c.Host = "" },
		"URL host":           func(c *SMTP) { c.Host = "smtp://mail.example" },
		"host with space":    func(c *SMTP) { c.Host = "mail example" },
		"bad tls":            func(c *SMTP) { c.TLS = "ssl" },
		"bad port":           func(c *SMTP) { c.Port = 70000 },
		"negative port":      func(c *SMTP) { c.Port = -1 },
		"password alone":     func(c *SMTP) { c.Password = "x" },
		"no from":            func(c *SMTP) { c.From = "" },
		"bad from":           func(c *SMTP) { c.From = "haul" },
		"from with CRLF":     func(c *SMTP) { c.From = "haul@studio.example\r\nBcc: x@y.example" },
		"negative timeout":   func(c *SMTP) { c.Timeout = -time.Second },
		"helo with space":    func(c *SMTP) { c.HELO = "a b" },
		"username with CRLF": func(c *SMTP) { c.Username = "a\r\nb" },
	}
	for name, f := range bad {
		c := ok
		f(&c)
		if s, err := NewSender(c); err == nil {
			t.Errorf("%s: accepted: %+v", name, s.cfg)
		}
	}
}
