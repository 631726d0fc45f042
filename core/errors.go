package core

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it. The set is
// closed: httpd maps each Kind to exactly one HTTP status in one function.
type Kind uint8

const (
	KindOther Kind = iota // an unclassified error; rendered as Internal
	NotFound
	Exists
	Invalid
	Unauthenticated
	Forbidden
	Conflict
	TooLarge
	Expired
	Gone
	RateLimited
	NoSpace
	UnsupportedMediaType
	BadRange
	Corrupt
	Unavailable
	NotImplemented
	Internal
)

var kindNames = [...]string{
	KindOther:            "internal",
	NotFound:             "not_found",
	Exists:               "already_exists",
	Invalid:              "validation_failed",
	Unauthenticated:      "unauthenticated",
	Forbidden:            "forbidden",
	Conflict:             "conflict",
	TooLarge:             "too_large",
	Expired:              "expired",
	Gone:                 "gone",
	RateLimited:          "rate_limited",
	NoSpace:              "no_space",
	UnsupportedMediaType: "unsupported_media_type",
	BadRange:             "bad_range",
	Corrupt:              "corrupt",
	Unavailable:          "unavailable",
	NotImplemented:       "not_implemented",
	Internal:             "internal",
}

// String returns the snake_case name used in API error bodies.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Error is the one error type of haul. Op names the operation that failed
// ("member.add"), Kind says what class of failure it is, Msg is a sentence
// safe to show to the client (it never contains a secret), Field names the
// input at fault when there is one, and Err is the underlying cause, which
// is logged but never shown to a client.
type Error struct {
	Op    string
	Kind  Kind
	Field string
	Msg   string
	Err   error
	// Code, when set, is a reason more precise than Kind that clients
	// match on: the S3 error code on data-plane routes (NoSuchUpload,
	// InvalidPart...), also given as the code of MASV's JSON error body.
	Code string
	// RetryAfter, when positive, tells a rate-limited client how many
	// seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string {
	s := e.Op
	if s != "" {
		s += ": "
	}
	if e.Msg != "" {
		s += e.Msg
	} else {
		s += e.Kind.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error with a client-facing message.
func E(op string, kind Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Invalidf builds an Invalid error about one input field.
func Invalidf(op, field, format string, args ...any) *Error {
	return &Error{Op: op, Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err as an internal failure of op, unless it already
// carries a Kind, in which case it is returned unchanged.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Kind: Internal, Err: err}
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == KindOther {
			return Internal
		}
		return e.Kind
	}
	return Internal
}

// Is reports whether err has the given Kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }
