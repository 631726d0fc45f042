package httpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// timeLayout is MASV's: RFC 3339 UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Time renders as MASV's timestamps; the zero time is
// 0001-01-01T00:00:00.000Z ("unset").
type Time time.Time

func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON accepts RFC 3339 with or without fractions, a bare date,
// an empty string or null (all meaning unset for the latter two).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: timeType}
	}
	v, err := parseTime(s)
	if err != nil { // a type error, so decode's message names the field
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: timeType}
	}
	*t = Time(v)
	return nil
}

var timeType = reflect.TypeFor[Time]()

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return v.UTC(), nil
	}
	if v, err := time.Parse("2006-01-02", s); err == nil {
		return v.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-01-31T17:00:00.000Z", s)
}

// decode parses a JSON request body into v. An empty body leaves v as is.
// Unknown fields are ignored (MASV clients send extras); malformed JSON
// and wrong types are Invalid with a message naming the field.
func decode(c *fiber.Ctx, op string, v any) error {
	body, err := jsonBody(c, op)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			want := jsonTypeName(te.Type)
			return core.Invalidf(op, te.Field, "field %q: expected %s, got JSON %s", te.Field, want, te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return core.Invalidf(op, "", "the request body is not valid JSON (it ends before the JSON value is complete)")
		case errors.As(err, &se):
			return core.Invalidf(op, "", "the request body is not valid JSON (at byte %d: %s)", se.Offset, se.Error())
		default:
			return core.Invalidf(op, "", "the request body could not be read: %s", err.Error())
		}
	}
	if dec.More() {
		return core.Invalidf(op, "", "the request body has data after the JSON value")
	}
	return nil
}

// maxJSONBody caps control-plane request bodies.
const maxJSONBody = 1 << 20

// jsonBody reads a control-plane request body, at most maxJSONBody bytes:
// with streamed request bodies Fiber no longer enforces a limit, and
// c.Body() would read a stream of any length into memory.
func jsonBody(c *fiber.Ctx, op string) ([]byte, error) {
	if c.Request().Header.ContentLength() > maxJSONBody {
		return nil, core.E(op, core.TooLarge, "the request body is too large: JSON bodies may hold at most %d bytes", maxJSONBody)
	}
	b, err := readLimited(c, maxJSONBody)
	if errors.Is(err, errBodyTooLarge) {
		return nil, core.E(op, core.TooLarge, "the request body is too large: JSON bodies may hold at most %d bytes", maxJSONBody)
	}
	if err != nil {
		return nil, core.Invalidf(op, "", "the request body could not be read: %s", err.Error())
	}
	return b, nil
}

var errBodyTooLarge = errors.New("request body too large")

// readLimited reads a request body of at most n bytes (errBodyTooLarge
// beyond), from the stream when Fiber streams it.
func readLimited(c *fiber.Ctx, n int) ([]byte, error) {
	st := c.Context().RequestBodyStream()
	if st == nil {
		if b := c.Body(); len(b) <= n {
			return b, nil
		}
		return nil, errBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(st, int64(n)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > n {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// jsonTypeName names a Go type as a client sees it in JSON.
func jsonTypeName(t reflect.Type) string {
	if t == timeType {
		return "a time such as 2026-01-31T17:00:00.000Z"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(jsonTypeName(t.Elem()), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// maxListOffset bounds how far into a list a page may start; past it
// (page-1)*limit would at worst overflow and at best ask for a scan of a
// billion records.
const maxListOffset = 1_000_000_000

// listQuery is a v1.1 list's paging: page (0 and 1 both mean the first),
// limit (default 20, at most maxLimit) and sort.
func listQuery(c *fiber.Ctx, op string) (core.Page, int, error) {
	const maxLimit, defLimit = 100, 20
	page, limit := 1, defLimit
	pageText := c.Query("page")
	if v := pageText; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
				return core.Page{}, 0, core.Invalidf(op, "page", "page %s is too large: a page may start at most %d records in", v, maxListOffset)
			}
			return core.Page{}, 0, core.Invalidf(op, "page", "page must be a whole number ≥ 0 (0 and 1 both mean the first page); got %q", v)
		}
		if n > 1 {
			page = n
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return core.Page{}, 0, core.Invalidf(op, "limit", "limit must be a whole number from 1 to %d; got %q", maxLimit, v)
		}
		if n > maxLimit {
			return core.Page{}, 0, core.Invalidf(op, "limit", "limit %d is over the maximum of %d; page through the list instead", n, maxLimit)
		}
		limit = n
	}
	if page-1 > maxListOffset/limit {
		return core.Page{}, 0, core.Invalidf(op, "page", "page %s is too large for limit %d: a page may start at most %d records in", pageText, limit, maxListOffset)
	}
	return core.Page{Offset: (page - 1) * limit, Limit: limit, Sort: c.Query("sort")}, page, nil
}

// listResponse is the v1.1 list shape.
type listResponse[T any] struct {
	Metadata struct {
		Total int `json:"total"`
		Page  int `json:"page"`
		Limit int `json:"limit"`
	} `json:"metadata"`
	Records []T `json:"records"`
}

func list[T any](records []T, total, page, limit int) listResponse[T] {
	var r listResponse[T]
	if records == nil {
		records = []T{}
	}
	r.Records = records
	r.Metadata.Total, r.Metadata.Page, r.Metadata.Limit = total, page, limit
	return r
}

func created(c *fiber.Ctx, v any) error { return c.Status(fiber.StatusCreated).JSON(v) }

func noContent(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) }

// param returns a path parameter copied out of Fiber's recycled buffer.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

// timeOf converts a request's time; the zero Time is the zero time.Time.
func timeOf(t Time) time.Time { return time.Time(t) }
