package httpd

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"haul/core"
)

// Config holds what the HTTP layer needs from the configuration.
type Config struct {
	// PublicURL is the base URL people reach haul at.
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MetricsToken, when set, is the bearer token /metrics requires;
	// when empty /metrics answers only loopback peers.
	MetricsToken string
	// ReadHeaderTimeout and IdleTimeout bound slow clients.
	ReadTimeout time.Duration
	IdleTimeout time.Duration
	// Version is reported by /healthz and the UI.
	Version string
	// PortalDomain is the parent domain of portal pages:
	// <subdomain>.<PortalDomain> serves that portal's upload page.
	PortalDomain string
	// HSTS sends Strict-Transport-Security on HTTPS responses.
	HSTS bool
}

// Deps are what the Server needs.
type Deps struct {
	Config  Config
	Service *core.Service
	Logger  *slog.Logger
	// Ready reports whether the server can take traffic (store open,
	// background work started); nil means always.
	Ready func(ctx context.Context) error
}

// Server is haul's HTTP front: one Fiber app serving the API and the UI.
type Server struct {
	cfg     Config
	svc     *core.Service
	log     *slog.Logger
	ready   func(ctx context.Context) error
	app     *fiber.App
	metrics *metrics
	routes  []route
}

// New builds the server and registers every route.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, svc: d.Service, log: d.Logger, ready: d.Ready}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = newMetrics(prometheus.NewRegistry())
	s.metrics.reg.MustRegister(NewStorageCollector(s.svc.ChunkStats, 30*time.Second))
	// Fiber believes X-Forwarded-Proto and X-Forwarded-Host (c.Protocol,
	// c.Hostname) only from the trusted proxies, as clientIP does with
	// X-Forwarded-For; with none configured, from nobody.
	proxies := make([]string, 0, len(d.Config.TrustedProxies))
	for _, p := range d.Config.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	s.app = fiber.New(fiber.Config{
		EnableTrustedProxyCheck: true,
		TrustedProxies:          proxies,
		AppName:                 "haul",
		DisableStartupMessage:   true,
		ErrorHandler:            s.handleError,
		ReadTimeout:             d.Config.ReadTimeout,
		IdleTimeout:             d.Config.IdleTimeout,
		// Request bodies stream: an upload's part goes to the chunk store
		// as it arrives and is never held whole in memory. BodyLimit then
		// only decides what fasthttp reads ahead; decode caps JSON bodies
		// at maxJSONBody itself.
		StreamRequestBody: true,
		BodyLimit:         maxJSONBody,
		Network:           fiber.NetworkTCP,
		ReadBufferSize:    16 << 10,
	})
	s.app.Use(s.requestContext, s.accessLog, s.recoverPanic, s.cors, s.requireJSON)
	s.routes = s.routeTable()
	for _, r := range s.routes {
		s.app.Add(r.method, r.path, r.handler)
	}
	s.app.Use(s.notFound)
	return s
}

// App returns the Fiber app (for tests that drive it in memory).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until ctx is cancelled, then stops accepting and lets
// in-flight requests finish for up to grace before returning.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: waiting for in-flight requests", "grace", grace.String())
	err := s.app.ShutdownWithTimeout(grace)
	<-errc
	return err
}

// clientIP returns the address of the client: the peer, or, when the peer
// is a trusted proxy, the right-most address of X-Forwarded-For that is not
// itself a trusted proxy.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	xff := c.Get(fiber.HeaderXForwardedFor)
	addr := peer
	for xff != "" {
		i := len(xff) - 1
		for i >= 0 && xff[i] != ',' {
			i--
		}
		part := strings.TrimSpace(xff[i+1:])
		if i < 0 {
			xff = ""
		} else {
			xff = xff[:i]
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
