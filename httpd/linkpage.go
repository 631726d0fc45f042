package httpd

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// linkPageTmpl is the link page until the full UI arrives: the package,
// its files, and buttons that fetch signed URLs (ui/static/download.js).
var linkPageTmpl = template.Must(template.New("link").Funcs(template.FuncMap{"bytes": humanBytes}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{if .Page}}{{.Page.Package.Name}} · {{end}}haul</title>
<link rel="stylesheet" href="/ui/style.css"></head>
<body><main>
{{if .Error}}<h1>This link does not work</h1><p id="error">{{.Error}}</p>
{{else}}{{with .Page}}
<section id="download" data-link="{{.Link.ID}}" data-package="{{.Package.ID}}">
<h1 id="package-name">{{.Package.Name}}</h1>
<p>From {{.Package.Sender}} · {{bytes .Package.Size}} in {{.Package.TotalFiles}} file(s) · available until {{.ExpiresAt.Format "2 Jan 2006 15:04 MST"}}</p>
{{if .Package.Description}}<p>{{.Package.Description}}</p>{{end}}
{{if .NeedsPassword}}<form id="unlock"><label>Password <input id="password" type="password" autocomplete="off" required></label> <button type="submit">Open</button></form>{{end}}
<table><thead><tr><th>File</th><th>Size</th><th>BLAKE3</th><th><span class="vh">Actions</span></th></tr></thead><tbody id="files">
{{range .Files}}<tr><td>{{if .Path}}{{.Path}}/{{end}}{{.Name}}</td><td>{{bytes .Size}}</td><td><code title="{{.Digest}}">{{.Digest}}</code></td><td><button data-file="{{.ID}}">Download</button></td></tr>
{{end}}{{if and (not .NeedsPassword) .ZipSize}}<tr><td>All files (zip)</td><td>{{bytes .ZipSize}}</td><td></td><td><button data-file="zip">Download all (zip)</button></td></tr>{{end}}
</tbody></table>
<p class="hint">To check a file, run <code>b3sum FILE</code>: it prints the BLAKE3 shown here.</p>
<p id="status" role="status"></p>
</section>
<script src="/ui/download.js"></script>
{{end}}{{end}}
</main></body></html>
`))

// downloadPage serves a link's page ({public_url}/{link_id}?secret=).
// Anything that is not a link id is an ordinary 404.
func (s *Server) downloadPage(c *fiber.Ctx) error {
	id := param(c, "link_id")
	if !core.ValidID(id) {
		return core.E("link.page", core.NotFound, "no such page")
	}
	data := struct {
		Page  *core.LinkPage
		Error string
	}{}
	page, err := s.svc.DescribeLink(c.UserContext(), id, c.Query("secret"))
	status := fiber.StatusOK
	if err != nil {
		var ce *core.Error
		if !errors.As(err, &ce) || statusOf(ce.Kind) >= 500 {
			return err
		}
		status, data.Error = statusOf(ce.Kind), ce.Msg
	}
	data.Page = page
	var b bytes.Buffer
	if err := linkPageTmpl.Execute(&b, data); err != nil {
		return core.Wrap("link.page", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Type("html", "utf-8")
	return c.Status(status).Send(b.Bytes())
}

// humanBytes writes a size for people (binary units).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), ".0") + " " + string("KMGTPE"[exp]) + "iB"
}
