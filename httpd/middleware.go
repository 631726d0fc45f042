package httpd

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientIPKey
)

const (
	localRequestID = "haul.request_id"
	localClientIP  = "haul.client_ip"
	localPrincipal = "haul.principal"
)

// LogHandler wraps h so every record logged with a request's context
// carries its request id.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}

func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// requestContext gives the request its id (the client's X-Request-Id if
// sane, else a new ULID), echoes it, and puts it and the client address in
// the context passed to core.
func (s *Server) requestContext(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = core.NewID()
	}
	c.Set(fiber.HeaderXRequestID, id)
	if s.cfg.HSTS && c.Context().IsTLS() {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
	c.Locals(localRequestID, id)
	ip := s.clientIP(c)
	c.Locals(localClientIP, ip)
	ctx := context.WithValue(context.Background(), requestIDKey, id)
	c.SetUserContext(context.WithValue(ctx, clientIPKey, ip))
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

func clientIPOf(c *fiber.Ctx) string {
	ip, _ := c.Locals(localClientIP).(string)
	return ip
}

// routeOf is the matched route pattern, never the raw path, so logs and
// metrics carry no ids, secrets or signatures from URLs.
func routeOf(c *fiber.Ctx) string {
	if r := c.Route(); r != nil && r.Method != "USE" {
		return r.Path
	}
	return "unmatched"
}

// accessLog logs one line per request (method, route pattern, status,
// duration; never the query string, headers or body, which may hold
// secrets) and records the request's metrics.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := routeOf(c)
	d := time.Since(start)
	s.metrics.observe(c.Method(), route, status, d)
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		level = slog.LevelDebug
	}
	s.log.Log(c.UserContext(), level, "request", "method", c.Method(), "route", route,
		"status", status, "duration_ms", float64(d.Microseconds())/1000, "client_ip", clientIPOf(c),
		"bytes_out", bytesOut(c))
	return nil
}

// bytesOut is the response's size for the access log. A streamed body
// (a download) is its announced length: Response.Body would read the
// whole stream into memory before the client got a byte.
func bytesOut(c *fiber.Ctx) int {
	if c.Response().IsBodyStream() {
		return c.Response().Header.ContentLength()
	}
	return len(c.Response().Body())
}

func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.UserContext(), "panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = core.E("http", core.Internal, "panic")
		}
	}()
	return c.Next()
}

// requireJSON refuses a non-empty POST, PUT or PATCH body on the API that
// is not application/json, as MASV does. Bodiless requests are fine.
func (s *Server) requireJSON(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch:
	default:
		return c.Next()
	}
	// The body's presence is read from the headers: reading it here would
	// pull a streamed body into memory.
	if c.Locals(dataPlaneLocal) != nil || !isAPIPath(c.Path()) || isImageUpload(c.Path()) || c.Request().Header.ContentLength() == 0 {
		return c.Next()
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return core.E("http", core.UnsupportedMediaType, "send the request body as JSON with Content-Type: application/json")
	}
	return c.Next()
}

// isImageUpload reports a portal branding upload, whose body is an image.
func isImageUpload(p string) bool {
	return strings.HasPrefix(p, "/v1/portals/") && (strings.HasSuffix(p, "/logo") || strings.HasSuffix(p, "/background"))
}

func isAPIPath(p string) bool {
	return len(p) >= 4 && (p[:4] == "/v1/" || len(p) >= 6 && p[:6] == "/v1.1/")
}

func (s *Server) notFound(c *fiber.Ctx) error {
	return core.E("http", core.NotFound, "no route %s %s; GET /v1/openapi.json lists the routes", c.Method(), c.Path())
}

// credentials reads what the request presents.
func (s *Server) credentials(c *fiber.Ctx) core.Credentials {
	cookie := c.Cookies(cookieSecure)
	if cookie == "" {
		cookie = c.Cookies(cookiePlain)
	}
	m := c.Method()
	return core.Credentials{
		APIKey:    c.Get("X-API-KEY"),
		UserToken: c.Get("X-User-Token"),
		Cookie:    cookie,
		CSRFToken: c.Get("X-CSRF-Token"),
		Unsafe:    m != fiber.MethodGet && m != fiber.MethodHead && m != fiber.MethodOptions,
		ClientIP:  clientIPOf(c),
	}
}

// authed wraps a handler that needs a principal.
func (s *Server) authed(h func(c *fiber.Ctx, p *core.Principal) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := s.svc.Authenticate(c.UserContext(), s.credentials(c))
		if err != nil {
			return err
		}
		c.Locals(localPrincipal, p)
		return h(c, p)
	}
}
