package httpd

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// The data plane: the subset of S3's multipart upload that MASV clients
// replay from blueprints, on URLs haul signs (core.Keyring.SignURL). Its
// errors are S3 XML documents.

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// InitiateMultipartUploadResult is S3's answer to CreateMultipartUpload.
type InitiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	XMLNS    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// ListPartsResult is S3's answer to ListParts (every part, one page).
type ListPartsResult struct {
	XMLName     xml.Name `xml:"ListPartsResult"`
	XMLNS       string   `xml:"xmlns,attr"`
	Bucket      string   `xml:"Bucket"`
	Key         string   `xml:"Key"`
	UploadID    string   `xml:"UploadId"`
	MaxParts    int      `xml:"MaxParts"`
	IsTruncated bool     `xml:"IsTruncated"`
	Parts       []S3Part `xml:"Part"`
}

// S3Part is one part of a ListPartsResult.
type S3Part struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

// dataPlane marks the request as a data-plane one (XML errors) and
// returns it as signed.
func dataPlane(c *fiber.Ctx) core.DataRequest {
	c.Locals(dataPlaneLocal, true)
	q := url.Values{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) { q.Add(string(k), string(v)) })
	return core.DataRequest{Method: c.Method(), Path: strings.Clone(c.Path()), Query: q}
}

func sendXML(c *fiber.Ctx, status int, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationXMLCharsetUTF8)
	return c.Status(status).Send(append([]byte(xml.Header), b...))
}

func (s *Server) s3Post(c *fiber.Ctx) error {
	dr := dataPlane(c)
	if !dr.Query.Has("uploads") {
		return &core.Error{Op: "s3", Kind: core.NotImplemented, Code: "NotImplemented",
			Msg: "haul completes uploads with POST /v1/packages/{package_id}/files/{file_id}/finalize, not CompleteMultipartUpload"}
	}
	pid, fid := param(c, "package_id"), param(c, "file_id")
	id, err := s.svc.CreateUpload(c.UserContext(), dr, pid, fid)
	if err != nil {
		return err
	}
	return sendXML(c, fiber.StatusOK, InitiateMultipartUploadResult{XMLNS: s3NS, Bucket: pid, Key: fid, UploadID: id})
}

func (s *Server) s3Put(c *fiber.Ctx) error {
	dr := dataPlane(c)
	n, err := strconv.Atoi(dr.Query.Get("partNumber"))
	if err != nil {
		return &core.Error{Op: "s3.upload_part", Kind: core.Invalid, Code: "InvalidArgument", Field: "partNumber",
			Msg: "partNumber must be a whole number from 1 to 10000"}
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	} else {
		body = &rollingDeadline{r: body, set: c.Context().SetReadDeadline}
	}
	size := int64(c.Request().Header.ContentLength())
	if size < 0 {
		size = -1 // chunked: counted as it streams
	}
	pt, err := s.svc.UploadPart(c.UserContext(), dr, param(c, "package_id"), param(c, "file_id"), dr.Query.Get("uploadId"), n, body, size)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, `"`+pt.ETag+`"`)
	return c.SendStatus(fiber.StatusOK)
}

func (s *Server) s3Get(c *fiber.Ctx) error {
	dr := dataPlane(c)
	pid, fid, uid := param(c, "package_id"), param(c, "file_id"), dr.Query.Get("uploadId")
	parts, err := s.svc.ListParts(c.UserContext(), dr, pid, fid, uid)
	if err != nil {
		return err
	}
	out := ListPartsResult{XMLNS: s3NS, Bucket: pid, Key: fid, UploadID: uid, MaxParts: 10000, Parts: []S3Part{}}
	for _, pt := range parts {
		out.Parts = append(out.Parts, S3Part{PartNumber: pt.PartNumber, LastModified: pt.CreatedAt.UTC().Format(timeLayout),
			ETag: `"` + pt.ETag + `"`, Size: pt.Size})
	}
	return sendXML(c, fiber.StatusOK, out)
}

func (s *Server) s3Delete(c *fiber.Ctx) error {
	dr := dataPlane(c)
	if err := s.svc.AbortUpload(c.UserContext(), dr, param(c, "package_id"), param(c, "file_id"), dr.Query.Get("uploadId")); err != nil {
		return err
	}
	return noContent(c)
}

// partIdleTimeout is how long a part's upload may go without a byte
// before the connection is dropped. server.read_header_timeout (Fiber's
// ReadTimeout) bounds a whole request, which a 5 GiB part over a slow link
// would exceed; a part is bounded by its idleness instead.
const partIdleTimeout = 2 * time.Minute

// rollingDeadline pushes the connection's read deadline forward as a
// streamed body makes progress (at most once a second).
type rollingDeadline struct {
	r    io.Reader
	set  func(time.Time) error
	next time.Time
}

func (d *rollingDeadline) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(d.next) {
		_ = d.set(now.Add(partIdleTimeout)) // fails only when the server disabled deadline updates
		d.next = now.Add(time.Second)
	}
	return d.r.Read(p)
}

// cors lets browsers (MASV's Web Uploader) call the package routes and the
// data plane directly: any origin, no cookies, the package token and
// Content-Type as request headers, ETag exposed so parts can be finalized.
func (s *Server) cors(c *fiber.Ctx) error {
	p := c.Path()
	if !strings.HasPrefix(p, "/s3/") && !strings.HasPrefix(p, "/v1/packages/") && p != "/v1/system/packages/spec" {
		return c.Next()
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	c.Set(fiber.HeaderAccessControlExposeHeaders, "ETag, X-Request-Id")
	if c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != "" {
		c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, PUT, DELETE, OPTIONS")
		c.Set(fiber.HeaderAccessControlAllowHeaders, "X-Package-Token, Content-Type")
		c.Set(fiber.HeaderAccessControlMaxAge, "86400")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Next()
}
