package httpd

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "err", err)
			return core.E("readyz", core.Unavailable, "not ready: %v", err)
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) notOffered(c *fiber.Ctx) error {
	return core.E("http", core.NotImplemented, "haul does not offer %s %s (cloud connections, cloud transfers and tags are MASV cloud features)", c.Method(), routeOf(c))
}
