package httpd

import (
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"haul/core"
)

// metrics are the server's Prometheus collectors, in a registry of its own
// (no global state, so tests can run several servers).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  fiber.Handler
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "haul_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = adapt(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

// Registry lets other parts of haul (the chunk store, background jobs)
// register their collectors on the same /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// serveMetrics answers /metrics: with a configured token, only to
// "Authorization: Bearer <token>"; without one, only to loopback clients.
// The client is the resolved address (clientIP), not the TCP peer: behind
// a reverse proxy on the same host every peer is loopback, but a request
// the proxy forwarded for a remote client is refused.
func (s *Server) serveMetrics(c *fiber.Ctx) error {
	if tok := s.cfg.MetricsToken; tok != "" {
		got := c.Get(fiber.HeaderAuthorization)
		want := "Bearer " + tok
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return core.E("metrics", core.Unauthenticated, "send Authorization: Bearer <metrics.token>")
		}
	} else {
		client, err := netip.ParseAddr(clientIPOf(c))
		if err != nil || !client.Unmap().IsLoopback() {
			return core.E("metrics", core.Forbidden, "/metrics answers only loopback clients (not requests forwarded for remote ones); set metrics.token to allow others")
		}
	}
	return s.metrics.handler(c)
}

func adapt(h http.Handler) fiber.Handler {
	fh := fasthttpadaptor.NewFastHTTPHandler(h)
	return func(c *fiber.Ctx) error { fh(c.Context()); return nil }
}
