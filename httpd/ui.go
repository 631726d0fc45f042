package httpd

import (
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
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(b)
}
