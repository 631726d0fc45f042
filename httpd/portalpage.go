package httpd

import (
	"bytes"
	"errors"
	"html/template"
	"net"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// portalSubdomain returns the portal subdomain a request's host names
// (<subdomain>.<portal domain>, one label), or "".
func (s *Server) portalSubdomain(c *fiber.Ctx) string {
	if s.cfg.PortalDomain == "" {
		return ""
	}
	host := c.Hostname()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if pu, err := url.Parse(s.cfg.PublicURL); err == nil && strings.EqualFold(pu.Hostname(), host) {
		return "" // haul's own address is never a portal's
	}
	sub, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(s.cfg.PortalDomain))
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return ""
	}
	return sub
}

// portalPageTmpl is a portal's upload page until the full UI arrives: the
// portal's name, message and branding, and ui/static/portal.js, which
// reads the portal's public face and runs the upload flow.
var portalPageTmpl = template.Must(template.New("portal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{if .Portal}}{{.Portal.Name}} · {{end}}haul</title>
<link rel="stylesheet" href="/ui/style.css">{{if .Color}}
<style>:root { --accent: {{.Color}}; }</style>{{end}}</head>
<body><main>
{{if .Error}}<h1>No upload page here</h1><p id="error">{{.Error}}</p>
{{else}}{{with .Portal}}
<section id="portal" data-subdomain="{{.Subdomain}}" data-portal="{{.ID}}">
{{if $.Logo}}<img id="logo" src="{{$.Logo}}" alt="" height="64">{{end}}
<h1 id="portal-name">{{.Name}}</h1>
{{if .Message}}<p id="portal-message">{{.Message}}</p>{{end}}
{{if $.Reason}}<p class="error" id="closed">{{$.Reason}}</p>{{else}}
<form id="upload-form">
<label>Your email <input name="sender" type="email" autocomplete="email" required></label>
<label>Package name <input name="name" required></label>
<label>Description <textarea name="description"></textarea></label>
{{if $.HasCode}}<label>Access code <input name="access_code" type="password" autocomplete="off" required></label>{{end}}
<div id="form-fields"></div>
{{if .TermsEnabled}}<fieldset id="terms"><legend>{{with .Terms.Title}}{{.}}{{else}}Terms of service{{end}}</legend>
{{with .Terms.Description}}<p>{{.}}</p>{{end}}
<label class="check"><input type="checkbox" name="terms_accepted" required> {{with .Terms.CheckboxLabel}}{{.}}{{else}}I accept the terms{{end}}</label>
{{with .Terms.CheckboxURL}}<p><a href="{{.}}" rel="noreferrer noopener" target="_blank">Read the terms</a></p>{{end}}</fieldset>{{end}}
<label>Files <input name="files" type="file" multiple></label>
<label>Or a folder (its structure is kept) <input name="folder" type="file" webkitdirectory multiple></label>
<div id="drop-zone" tabindex="0">Or drop files and folders here. <span id="dropped"></span></div>
<button type="submit">Send</button>
</form>
<p id="status" role="status"></p>
<p id="again" hidden><button type="button">Send more files</button></p>
<div id="panel" class="transfer" hidden></div>{{end}}
</section>
<script type="module" src="/ui/portal.js"></script>
{{end}}{{end}}
</main></body></html>
`))

// portalPage serves the upload page of the portal the host names.
func (s *Server) portalPage(c *fiber.Ctx, sub string) error {
	data := struct {
		Portal        *core.Portal
		Error, Reason string
		Logo          string
		Color         template.CSS
		HasCode       bool
	}{}
	status := fiber.StatusOK
	pp, err := s.svc.PortalBySubdomain(c.UserContext(), sub)
	if err != nil {
		var ce *core.Error
		if !errors.As(err, &ce) || statusOf(ce.Kind) >= 500 {
			return err
		}
		status, data.Error = statusOf(ce.Kind), ce.Msg
	} else {
		data.Portal, data.HasCode = pp.Portal, pp.HasCode
		data.Logo = s.assetURL(pp.Portal, "logo", pp.Portal.LogoAsset)
		if pp.Portal.PrimaryColor != "" { // validated: #rgb or #rrggbb
			data.Color = template.CSS(pp.Portal.PrimaryColor)
		}
		if pp.Usable != nil {
			data.Reason = pp.Usable.(*core.Error).Msg
		}
	}
	var b bytes.Buffer
	if err := portalPageTmpl.Execute(&b, data); err != nil {
		return core.Wrap("portal.page", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Type("html", "utf-8")
	return c.Status(status).Send(b.Bytes())
}
