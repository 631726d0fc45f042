package core

import "github.com/oklog/ulid/v2"

// NewID returns a new ULID: 26 characters, sortable by creation time,
// monotonic within a millisecond and safe for concurrent use.
func NewID() string { return ulid.Make().String() }

// ValidID reports whether s is a well-formed ULID.
func ValidID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}
