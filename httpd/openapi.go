package httpd

import (
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
)

var paramPattern = regexp.MustCompile(`:([A-Za-z_]+)`)

// openAPIPath turns a Fiber pattern into an OpenAPI path template.
func openAPIPath(p string) string {
	p = paramPattern.ReplaceAllString(p, "{$1}")
	return strings.ReplaceAll(p, "*", "{path}")
}

// openAPIDoc describes every route of the table.
func (s *Server) openAPIDoc() fiber.Map {
	paths := fiber.Map{}
	for _, r := range s.routes {
		p := openAPIPath(r.path)
		item, _ := paths[p].(fiber.Map)
		if item == nil {
			item = fiber.Map{}
			paths[p] = item
		}
		var params []fiber.Map
		for _, m := range paramPattern.FindAllStringSubmatch(r.path, -1) {
			params = append(params, fiber.Map{"name": m[1], "in": "path", "required": true, "schema": fiber.Map{"type": "string"}})
		}
		if strings.Contains(r.path, "*") {
			params = append(params, fiber.Map{"name": "path", "in": "path", "required": true, "schema": fiber.Map{"type": "string"}})
		}
		op := fiber.Map{
			"summary":     r.summary,
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(p),
			"responses":   fiber.Map{"default": fiber.Map{"$ref": "#/components/responses/Error"}},
		}
		if params != nil {
			op["parameters"] = params
		}
		switch r.auth {
		case "user":
			op["security"] = []fiber.Map{{"apiKey": []string{}}, {"userToken": []string{}}, {"session": []string{}}}
		case "user_token":
			op["security"] = []fiber.Map{{"userToken": []string{}}, {"session": []string{}}}
		case "optional":
			op["security"] = []fiber.Map{{}, {"userToken": []string{}}, {"session": []string{}}}
		case "package":
			op["security"] = []fiber.Map{{"packageToken": []string{}}}
		case "package+user":
			op["security"] = []fiber.Map{{"packageToken": []string{}, "apiKey": []string{}}, {"packageToken": []string{}, "userToken": []string{}}}
		case "signed":
			op["security"] = []fiber.Map{{}}
			op["description"] = "Signed URL: X-Haul-Key, X-Haul-Expires and X-Haul-Signature query parameters as handed out in blueprints. Errors are S3 XML."
		case "metrics":
			op["security"] = []fiber.Map{{"metricsToken": []string{}}, {}}
		}
		item[strings.ToLower(r.method)] = op
	}
	return fiber.Map{
		"openapi": "3.0.3",
		"info": fiber.Map{"title": "haul", "version": s.cfg.Version,
			"description": "haul's REST API, following MASV's public API. Times are RFC 3339 UTC with milliseconds; v1.1 lists answer {metadata:{total}, records:[...]}."},
		"servers": []fiber.Map{{"url": s.cfg.PublicURL}},
		"paths":   paths,
		"components": fiber.Map{
			"securitySchemes": fiber.Map{
				"apiKey":       fiber.Map{"type": "apiKey", "in": "header", "name": "X-API-KEY"},
				"userToken":    fiber.Map{"type": "apiKey", "in": "header", "name": "X-User-Token"},
				"session":      fiber.Map{"type": "apiKey", "in": "cookie", "name": "__Host-haul_session"},
				"metricsToken": fiber.Map{"type": "http", "scheme": "bearer"},
				"packageToken": fiber.Map{"type": "apiKey", "in": "header", "name": "X-Package-Token"},
			},
			"responses": fiber.Map{"Error": fiber.Map{
				"description": "MASV's error body",
				"content": fiber.Map{"application/json": fiber.Map{"schema": fiber.Map{
					"type": "object",
					"properties": fiber.Map{
						"code": fiber.Map{"type": "integer"},
						"errors": fiber.Map{"type": "array", "items": fiber.Map{"type": "object", "properties": fiber.Map{
							"code": fiber.Map{"type": "string"}, "msg": fiber.Map{"type": "string"}, "type": fiber.Map{"type": "string"},
						}}},
					},
				}}},
			}},
		},
	}
}

func (s *Server) openAPI(c *fiber.Ctx) error { return c.JSON(s.openAPIDoc()) }
