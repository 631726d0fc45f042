package httpd

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"

	"haul/core"
	"haul/ui"
)

func (s *Server) uiIndex(c *fiber.Ctx) error {
	if sub := s.portalSubdomain(c); sub != "" && c.Path() == "/" {
		return s.portalPage(c, sub)
	}
	b, err := fs.ReadFile(ui.Static(), "index.html")
	if err != nil {
		return core.Wrap("ui.index", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Type("html", "utf-8")
	return c.Send(b)
}

func (s *Server) uiStatic(c *fiber.Ctx) error {
	name := path.Clean("/" + c.Params("*"))[1:]
	b, err := fs.ReadFile(ui.Static(), name)
	if err != nil {
		return core.E("ui.static", core.NotFound, "no such file %s", name)
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		c.Set(fiber.HeaderContentType, t)
	}
	// Revalidated on each use (the names carry no fingerprint), answered
	// 304 when unchanged: the ETag is the content's hash.
	sum := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderETag, etag)
	if etagListHas(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(b)
}
