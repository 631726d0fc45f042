package httpd

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// statusOf maps an error kind to its HTTP status. It is the only place
// that decides statuses for errors.
func statusOf(k core.Kind) int {
	switch k {
	case core.NotFound:
		return fiber.StatusNotFound
	case core.Exists, core.Conflict:
		return fiber.StatusConflict
	case core.Invalid:
		return fiber.StatusBadRequest
	case core.Unauthenticated:
		return fiber.StatusUnauthorized
	case core.Forbidden:
		return fiber.StatusForbidden
	case core.TooLarge:
		return fiber.StatusRequestEntityTooLarge
	case core.Expired, core.Gone:
		return fiber.StatusGone
	case core.RateLimited:
		return fiber.StatusTooManyRequests
	case core.NoSpace:
		return fiber.StatusInsufficientStorage
	case core.UnsupportedMediaType:
		return fiber.StatusUnsupportedMediaType
	case core.BadRange:
		return fiber.StatusRequestedRangeNotSatisfiable
	case core.Unavailable:
		return fiber.StatusServiceUnavailable
	case core.NotImplemented:
		return fiber.StatusNotImplemented
	}
	return fiber.StatusInternalServerError
}

// errorBody is MASV's error shape.
type errorBody struct {
	Code   int         `json:"code"`
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code  string `json:"code"`
	Msg   string `json:"msg"`
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}

// s3Error is the S3 error document used on data-plane routes.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
}

// refusedBodyDrain bounds how much of a refused upload's body is read
// before the error is sent.
const refusedBodyDrain = 16 << 20

// dataPlaneLocal marks a request as served by the S3-style data plane,
// whose errors are XML; drainLocal one whose refused body is drained
// (an image upload).
const (
	dataPlaneLocal = "haul.dataplane"
	drainLocal     = "haul.drain"
)

// handleError is Fiber's error handler and the one function that renders
// errors: MASV's JSON body on API routes, S3-style XML on data-plane
// routes. Internal errors are logged with the request id and reach the
// client as a generic message.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	var ce *core.Error
	kind := core.Internal
	msg := "internal error; the server log has details under this request id: " + requestID(c)
	field, code := "", ""
	switch {
	case errors.As(err, &ce):
		kind = core.KindOf(err)
		if kind != core.Internal {
			msg, field = ce.Msg, ce.Field
			code = codeOf(err)
			if msg == "" {
				msg = kind.String()
			}
		}
		if ce.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ce.RetryAfter))
		}
	case errors.As(err, &fe):
		kind = kindOfStatus(fe.Code)
		msg = fe.Message
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			msg = "the request body is too large"
		}
	}
	status := statusOf(kind)
	if status >= 500 && kind != core.NotImplemented && kind != core.Unavailable {
		s.log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "route", routeOf(c), "err", err)
	}
	// A refused upload's body (a part, an image) may still be arriving:
	// read a bounded amount of it so the client, still writing, gets to
	// read this answer instead of a connection reset. Past the bound the
	// connection is closed. (JSON routes answer without reading on.)
	if c.Locals(dataPlaneLocal) != nil || c.Locals(drainLocal) != nil {
		if bs := c.Context().RequestBodyStream(); bs != nil {
			if n, _ := io.CopyN(io.Discard, bs, refusedBodyDrain); n == refusedBodyDrain {
				c.Set(fiber.HeaderConnection, "close")
			}
		}
	}
	if c.Locals(dataPlaneLocal) != nil {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationXMLCharsetUTF8)
		if code == "" {
			code = s3Code(kind)
		}
		body, _ := xml.Marshal(s3Error{Code: code, Message: msg, RequestID: requestID(c)})
		return c.Status(status).Send(append([]byte(xml.Header), body...))
	}
	if code == "" {
		code = kind.String()
	}
	return c.Status(status).JSON(errorBody{Code: status, Errors: []errorItem{{Code: code, Msg: msg, Type: kind.String(), Field: field}}})
}

// codeOf returns the precise reason (core.Error.Code) of the first error
// in err's chain that has one.
func codeOf(err error) string {
	for err != nil {
		var ce *core.Error
		if !errors.As(err, &ce) {
			return ""
		}
		if ce.Code != "" {
			return ce.Code
		}
		err = ce.Err
	}
	return ""
}

func kindOfStatus(code int) core.Kind {
	switch code {
	case fiber.StatusNotFound:
		return core.NotFound
	case fiber.StatusMethodNotAllowed:
		return core.NotFound
	case fiber.StatusBadRequest:
		return core.Invalid
	case fiber.StatusRequestEntityTooLarge:
		return core.TooLarge
	case fiber.StatusUnsupportedMediaType:
		return core.UnsupportedMediaType
	case fiber.StatusRequestTimeout, fiber.StatusServiceUnavailable:
		return core.Unavailable
	}
	if code < 500 {
		return core.Invalid
	}
	return core.Internal
}

func s3Code(k core.Kind) string {
	switch k {
	case core.NotFound:
		return "NoSuchKey"
	case core.Unauthenticated, core.Forbidden, core.Expired:
		return "AccessDenied"
	case core.Invalid:
		return "InvalidArgument"
	case core.TooLarge:
		return "EntityTooLarge"
	case core.NoSpace:
		return "InsufficientStorage"
	case core.BadRange:
		return "InvalidRange"
	case core.RateLimited, core.Unavailable:
		return "SlowDown"
	case core.Conflict, core.Exists:
		return "OperationAborted"
	case core.Gone:
		return "NoSuchUpload"
	case core.NotImplemented:
		return "NotImplemented"
	case core.Internal, core.KindOther:
		return "InternalError"
	}
	return strings.ReplaceAll(k.String(), "_", "")
}
