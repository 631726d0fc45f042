package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of SMTP.TLS.
const (
	// TLSStartTLS connects in plain text and requires STARTTLS before
	// anything else; the default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (usually port 465).
	TLSImplicit = "implicit"
	// TLSNone never encrypts. Credentials, if any, then travel in clear
	// text: only for a relay on a trusted network (localhost, a sidecar).
	TLSNone = "none"
)

// DefaultTimeout bounds one Send when SMTP.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// SMTP holds the relay settings (haul's [mail] section).
type SMTP struct {
	// Host is the relay's host name or IP address.
	Host string
	// Port is the relay's port; 0 means 587 for starttls, 465 for
	// implicit and 25 for none.
	Port int
	// TLS is TLSStartTLS ("starttls", also when empty), TLSImplicit
	// ("implicit") or TLSNone ("none").
	TLS string
	// Username authenticates to the relay (PLAIN, else LOGIN, CRAM-MD5 or
	// SCRAM, whichever the relay offers); empty means no authentication.
	Username string
	// Password goes with Username.
	Password string
	// From is the sender: "haul <haul@studio.example>" or a bare address.
	From string
	// HELO is the name given in EHLO; empty means the machine's host name.
	HELO string
	// Timeout bounds one Send, connection included; 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// RootCAs, when set, replaces the system roots to verify the relay's
	// certificate (a private CA, tests).
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate from the relay. For
	// tests only: it gives up the protection TLS exists for.
	InsecureSkipVerify bool
}

// Sender sends rendered mails over SMTP with go-mail, one connection per
// Send. It is safe for concurrent use.
type Sender struct {
	cfg  SMTP
	from string // the From header, as validated
	addr string // host:port, for errors
}

// NewSender checks s and returns a Sender for it. It does not connect.
func NewSender(s SMTP) (*Sender, error) {
	host := strings.TrimSpace(s.Host)
	switch {
	case host == "":
		return nil, errors.New("notify: smtp: host is empty")
	case strings.ContainsAny(host, " \t\r\n/@") || strings.Contains(host, "://"):
		return nil, fmt.Errorf("notify: smtp: host %q is not a host name or IP address", s.Host)
	}
	s.Host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]") // [::1] → ::1

	switch s.TLS = strings.ToLower(strings.TrimSpace(s.TLS)); s.TLS {
	case "":
		s.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("notify: smtp: tls %q is not starttls, implicit or none", s.TLS)
	}
	if s.Port < 0 || s.Port > 65535 {
		return nil, fmt.Errorf("notify: smtp: port %d is not between 1 and 65535", s.Port)
	}
	if s.Port == 0 {
		s.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[s.TLS]
	}
	if s.Username == "" && s.Password != "" {
		return nil, errors.New("notify: smtp: a password is set without a username")
	}
	if strings.ContainsAny(s.Username, "\r\n") {
		return nil, errors.New("notify: smtp: the username contains a line break")
	}
	if strings.TrimSpace(s.From) == "" {
		return nil, errors.New("notify: smtp: from is empty")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return nil, fmt.Errorf("notify: smtp: from %q is not an address (like haul@example.com or \"haul <haul@example.com>\")", oneLine(s.From))
	}
	if strings.ContainsAny(s.HELO, " \t\r\n") {
		return nil, fmt.Errorf("notify: smtp: helo %q is not a host name", oneLine(s.HELO))
	}
	if s.Timeout < 0 {
		return nil, fmt.Errorf("notify: smtp: timeout %s is negative", s.Timeout)
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	return &Sender{
		cfg:  s,
		from: strings.TrimSpace(s.From),
		addr: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
	}, nil
}

// Addr is the relay's host:port.
func (s *Sender) Addr() string { return s.addr }

// Send delivers m as a multipart/alternative message (text, then HTML) to
// m.To, within SMTP.Timeout and ctx: cancelling ctx aborts the exchange.
// Errors start with "smtp host:port: " and never contain the password.
func (s *Sender) Send(ctx context.Context, m *Mail) error {
	if m == nil {
		return fmt.Errorf("smtp %s: no mail", s.addr)
	}
	if len(m.To) == 0 {
		return fmt.Errorf("smtp %s: mail has no recipient", s.addr)
	}
	if m.Text == "" && m.HTML == "" {
		return fmt.Errorf("smtp %s: mail has no body", s.addr)
	}
	msg, err := s.message(m)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	timeout := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 || ctx.Err() != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, context.Cause(ctx))
	}

	// ctx bounds the whole exchange (the dialer closes the connection when
	// it ends); go-mail's own per-connection deadline is a backstop set a
	// little later, so that a timeout reports context.DeadlineExceeded.
	client, err := s.client(ctx, timeout+time.Second)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		switch {
		case ctx.Err() != nil:
			// The dialer closed the connection under go-mail, whose error
			// then only says so: report why instead.
			return fmt.Errorf("smtp %s: gave up after %s: %w", s.addr, time.Since(start).Round(time.Millisecond), context.Cause(ctx))
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("smtp %s: %w: %w", s.addr, context.DeadlineExceeded, err)
		}
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

// message builds the go-mail message of m.
func (s *Sender) message(m *Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(truncate(oneLine(m.Subject), 250))
	msg.SetDate()
	msg.SetMessageID()
	// RFC 3834: a machine wrote this; auto-responders should not answer.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// client makes the go-mail client of one Send. Its dialer ties the
// connection to ctx: when ctx ends, the connection is closed, which aborts
// whatever go-mail was waiting for.
func (s *Sender) client(ctx context.Context, timeout time.Duration) (*gomail.Client, error) {
	tlsConfig := &tls.Config{
		ServerName:         s.cfg.Host,
		MinVersion:         tls.VersionTLS12,
		RootCAs:            s.cfg.RootCAs,
		InsecureSkipVerify: s.cfg.InsecureSkipVerify, //nolint:gosec // opt-in, for tests
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(s.dialer(ctx, tlsConfig)),
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	switch s.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit, TLSNone:
		// Implicit TLS is done by the dialer (go-mail skips its own TLS
		// when given a dialer); STARTTLS is then neither needed nor
		// possible.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(s.authMechanisms()...))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// authMechanisms lists the SASL mechanisms to try, in order. PLAIN and
// LOGIN come first because every relay with password accounts supports
// them; over TLS they are as safe as the challenge-response ones. With
// TLS "none" the operator accepted clear text, so the -NOENC variants.
func (s *Sender) authMechanisms() []gomail.SMTPAuthType {
	plain, login := gomail.SMTPAuthPlain, gomail.SMTPAuthLogin
	if s.cfg.TLS == TLSNone {
		plain, login = gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc
	}
	return []gomail.SMTPAuthType{
		plain, login,
		gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
		gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1,
		gomail.SMTPAuthCramMD5,
	}
}

// dialer connects (with TLS from the first byte for "implicit") and closes
// the connection when ctx ends. It returns the *tls.Conn itself, not a
// wrapper, so that go-mail sees the connection is encrypted.
func (s *Sender) dialer(ctx context.Context, tlsConfig *tls.Config) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, address string) (net.Conn, error) {
		nd := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.cfg.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: nd, Config: tlsConfig}).DialContext(dialCtx, network, address)
		} else {
			conn, err = nd.DialContext(dialCtx, network, address)
		}
		if err != nil {
			return nil, err
		}
		// The Send's deferred cancel fires this too, after go-mail has
		// already closed conn; closing twice is harmless.
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
}
