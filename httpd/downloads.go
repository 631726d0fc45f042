package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// CreateLinkRequest is the body of POST /v1/packages/{id}/links.
type CreateLinkRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Expiry      Time   `json:"expiry"`
	AccessLimit *int   `json:"access_limit"`
}

// LinkResponse is MASV's link object, with haul's additions (url, state
// and counters).
type LinkResponse struct {
	ID                 string `json:"id"`
	PackageID          string `json:"package_id"`
	DownloadSecret     string `json:"download_secret"`
	URL                string `json:"url"`
	AccessLimit        int    `json:"access_limit"`
	AccessLimitEnabled bool   `json:"access_limit_enabled"`
	AccessCount        int    `json:"access_count"`
	Active             bool   `json:"active"`
	Disabled           bool   `json:"disabled"`
	Expiry             Time   `json:"expiry"`
	Email              string `json:"email"`
	Password           string `json:"password,omitempty"`
	CreatedAt          Time   `json:"created_at"`
	AccessedAt         *Time  `json:"accessed_at"`
}

func (s *Server) linkView(v *core.LinkView) LinkResponse {
	l := &v.Link
	out := LinkResponse{ID: l.ID, PackageID: l.PackageID, DownloadSecret: l.Secret, URL: s.svc.ShareURL(l),
		AccessLimit: l.AccessLimit, AccessLimitEnabled: l.AccessLimit > 0, AccessCount: l.Accesses,
		Active: v.Active, Disabled: l.Disabled, Expiry: Time(v.Expiry), Email: l.Email, CreatedAt: Time(l.CreatedAt)}
	if out.Email == "" && v.Package != nil {
		out.Email = v.Package.Sender // MASV: a direct link shows the uploader's email
	}
	if l.PasswordHash != "" {
		out.Password = "****"
	}
	if !l.AccessedAt.IsZero() {
		t := Time(l.AccessedAt)
		out.AccessedAt = &t
	}
	return out
}

func (s *Server) createLink(c *fiber.Ctx) error {
	var req CreateLinkRequest
	if err := decode(c, "link.create", &req); err != nil {
		return err
	}
	v, err := s.svc.CreateLink(c.UserContext(), packageAuth(c), param(c, "package_id"), core.CreateLinkRequest{
		Email: req.Email, Password: req.Password, Expiry: timeOf(req.Expiry), AccessLimit: req.AccessLimit})
	if err != nil {
		return err
	}
	return created(c, s.linkView(v))
}

func (s *Server) listLinks(c *fiber.Ctx) error {
	vs, err := s.svc.Links(c.UserContext(), packageAuth(c), param(c, "package_id"))
	if err != nil {
		return err
	}
	out := make([]LinkResponse, 0, len(vs))
	for i := range vs {
		out = append(out, s.linkView(&vs[i]))
	}
	return c.JSON(out)
}

func (s *Server) disableLink(c *fiber.Ctx) error {
	if err := s.svc.DisableLink(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "link_id")); err != nil {
		return err
	}
	return noContent(c)
}

// OpenLinkResponse is MASV's answer to opening a link.
type OpenLinkResponse struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	PackageID      string         `json:"package_id"`
	PackageSize    int64          `json:"package_size"`
	PackageToken   string         `json:"package_token"`
	Expiry         Time           `json:"expiry"`
	SenderEmail    string         `json:"sender_email"`
	RecipientEmail string         `json:"recipient_email"`
	Branding       map[string]any `json:"branding"`
	TotalFiles     int            `json:"total_files"`
}

func (s *Server) openLink(c *fiber.Ctx) error {
	o, err := s.svc.OpenLink(c.UserContext(), core.OpenLinkRequest{LinkID: param(c, "link_id"), Secret: c.Query("secret"),
		Password: c.Get("X-Link-Password"), ClientIP: clientIPOf(c)})
	if err != nil {
		return err
	}
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(OpenLinkResponse{ID: o.Link.ID, Name: o.Package.Name, Description: o.Package.Description, PackageID: o.Package.ID,
		PackageSize: o.Package.Size, PackageToken: o.PackageToken, Expiry: Time(o.Expiry), SenderEmail: o.Package.Sender,
		RecipientEmail: o.Link.Email, Branding: map[string]any{"primary_color": ""}, TotalFiles: o.Package.TotalFiles})
}

// listFiles answers MASV's file list: the files, then (once the package is
// finalized) the zip of the whole package as one more entry.
func (s *Server) listFiles(c *fiber.Ctx) error {
	l, err := s.svc.DownloadFiles(c.UserContext(), packageAuth(c), param(c, "package_id"))
	if err != nil {
		return err
	}
	out := make([]FileResponse, 0, len(l.Files)+1)
	for _, f := range l.Files {
		out = append(out, fileView(f))
	}
	if z := l.Zip; z != nil {
		out = append(out, FileResponse{ID: core.ZipID, Kind: core.ZipKind, Name: z.Name, Size: z.Size,
			LastModified: Time(z.Modified), State: core.FileFinalized, CreatedAt: Time(z.Modified)})
	}
	return c.JSON(out)
}

func (s *Server) downloadURL(c *fiber.Ctx) error {
	bp, err := s.svc.DownloadURL(c.UserContext(), packageAuth(c), param(c, "package_id"), param(c, "file_id"))
	if err != nil {
		return err
	}
	return c.JSON(bp)
}

func (s *Server) completeDownload(c *fiber.Ctx) error {
	var ignored struct{}
	if err := decode(c, "download.complete", &ignored); err != nil {
		return err
	}
	if err := s.svc.CompleteDownload(c.UserContext(), packageAuth(c), param(c, "package_id")); err != nil {
		return err
	}
	return noContent(c)
}

// downloadIdleTimeout is how long a download may go without the client
// taking a byte before the connection is dropped.
const downloadIdleTimeout = 2 * time.Minute

// serveDownload serves a file's (or the zip's) bytes on a signed URL:
// single Range requests (several ranges get the whole file), If-Range,
// If-None-Match, a strong ETag from the digest, and a safe
// Content-Disposition. The body streams from the chunk store straight into
// the connection (the body stream's WriteTo), one part's block list at a
// time.
func (s *Server) serveDownload(c *fiber.Ctx) error {
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) { q.Add(string(k), string(v)) })
	d, err := s.svc.OpenDownload(c.UserContext(), core.DownloadRequest{Path: strings.Clone(c.Path()), Query: q,
		PackageID: param(c, "package_id"), FileID: param(c, "file_id"), ClientIP: clientIPOf(c)})
	if err != nil {
		return err
	}
	h := &c.Response().Header
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderETag, d.ETag)
	c.Set(fiber.HeaderLastModified, d.Modified.UTC().Format(timeFormatHTTP))
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentDisposition, contentDisposition(d.Name))
	if d.IsZip {
		c.Set(fiber.HeaderContentType, "application/zip")
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagListHas(inm, d.ETag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	off, n, status := int64(0), d.Size, fiber.StatusOK
	if rh := c.Get(fiber.HeaderRange); rh != "" && ifRangeHolds(c.Get(fiber.HeaderIfRange), d) {
		start, length, ok, satisfiable := parseRange(rh, d.Size)
		if ok && !satisfiable {
			c.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(d.Size, 10))
			return core.E("file.get", core.BadRange, "the range %s is outside the file's %d bytes", rh, d.Size)
		}
		if ok {
			off, n, status = start, length, fiber.StatusPartialContent
			c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, d.Size))
		}
	}
	c.Status(status)
	if c.Method() == fiber.MethodHead || n == 0 {
		c.Context().SetBodyString("")
		h.SetContentLength(int(n))
		if c.Method() != fiber.MethodHead { // an empty file, served whole
			d.Finish(c.UserContext(), off, 0, 0, time.Now())
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
	body := &downloadBody{d: d, ctx: ctx, cancel: cancel, off: off, n: n, started: time.Now(),
		setDeadline: c.Context().Conn().SetWriteDeadline}
	c.Context().SetBodyStream(body, int(n))
	return nil
}

// timeFormatHTTP is the date format of HTTP headers (http.TimeFormat).
const timeFormatHTTP = "Mon, 02 Jan 2006 15:04:05 GMT"

// downloadBody is the response body of a download: fasthttp calls WriteTo
// with the connection's writer, so the chunk store writes straight into
// it (no pipe, no copy through a small buffer), then Close, which records
// what was sent.
type downloadBody struct {
	d           *core.Download
	ctx         context.Context
	cancel      context.CancelFunc
	off, n      int64
	sent        int64
	started     time.Time
	setDeadline func(time.Time) error
	next        time.Time
	done        bool
}

func (b *downloadBody) WriteTo(w io.Writer) (int64, error) {
	err := b.d.WriteRange(b.ctx, writerFunc(func(p []byte) (int, error) {
		// In pieces, so a slow client that keeps taking bytes is never
		// cut by the idle deadline in the middle of one large write.
		done := 0
		for done < len(p) {
			if now := time.Now(); now.After(b.next) {
				_ = b.setDeadline(now.Add(downloadIdleTimeout))
				b.next = now.Add(time.Second)
			}
			n, err := w.Write(p[done:min(len(p), done+writePiece)])
			done += n
			b.sent += int64(n)
			if err != nil {
				return done, err
			}
		}
		return done, nil
	}), b.off, b.n)
	return b.sent, err
}

// writePiece is the most a download writes to the connection at once.
const writePiece = 256 << 10

// Read is never used by fasthttp (WriteTo is); it is here because a body
// stream must be an io.Reader.
func (b *downloadBody) Read([]byte) (int, error) { return 0, io.ErrNoProgress }

func (b *downloadBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	b.cancel()
	_ = b.setDeadline(time.Time{})
	b.d.Finish(context.WithoutCancel(b.ctx), b.off, b.n, b.sent, b.started)
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// parseRange reads a Range header of one byte range against size. ok is
// false when the header is not one well-formed byte range (the whole file
// is then served, as RFC 9110 allows); satisfiable is false when it is but
// starts past the end (416).
func parseRange(h string, size int64) (start, length int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if first == "" { // suffix: the last N bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return 0, 0, false, false
		}
		if k == 0 || size == 0 {
			return 0, 0, true, false
		}
		k = min(k, size)
		return size - k, k, true, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false, false
	}
	b := size - 1
	if last != "" {
		v, err := strconv.ParseInt(last, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && strings.Trim(last, "0123456789") == "":
			v = size - 1 // past any size: to the end
		case err != nil || v < a:
			return 0, 0, false, false
		}
		b = min(v, size-1)
	}
	if a >= size {
		return 0, 0, true, false
	}
	return a, b - a + 1, true, true
}

// ifRangeHolds reports whether a Range may be honoured under If-Range: no
// If-Range, the same (strong) ETag, or exactly the Last-Modified date.
func ifRangeHolds(ir string, d *core.Download) bool {
	switch {
	case ir == "":
		return true
	case strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, `W/`):
		return ir == d.ETag
	}
	t, err := time.Parse(timeFormatHTTP, ir)
	return err == nil && t.Equal(d.Modified.UTC().Truncate(time.Second))
}

func etagListHas(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || strings.TrimPrefix(e, "W/") == etag {
			return true
		}
	}
	return false
}

// contentDisposition names the download safely (RFC 6266): an ASCII
// fallback with anything unsafe replaced, and filename* with the UTF-8
// name percent-encoded; Windows-reserved names are made safe first.
func contentDisposition(name string) string {
	name = core.WindowsSafeName(name)
	var ascii strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r > 0x7e || r == '"' || r == '\\' || r == '/' || r == '%' || r == ';':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + rfc5987(name)
}

// rfc5987 percent-encodes everything but RFC 5987's attr-char.
func rfc5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
