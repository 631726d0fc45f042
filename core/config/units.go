package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in configuration the way
// time.ParseDuration reads it: "30s", "12h", "1h30m".
type Duration struct {
	time.Duration
}

// UnmarshalText parses s with time.ParseDuration.
func (d *Duration) UnmarshalText(s []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(s)))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Size is a number of bytes written with an optional unit: "4MiB", "512KiB",
// "100MB", "123". KiB, MiB, GiB and TiB are powers of 1024; KB, MB, GB and TB
// powers of 1000; B or no unit means bytes. Units are case-insensitive.
type Size int64

// Size units.
const (
	B   Size = 1
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	TB  Size = 1000 * GB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits maps each accepted unit, lower-cased, to its multiplier. String
// tries them in this order, so binary units are preferred when they fit.
var sizeUnits = []struct {
	name string
	mult Size
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", B},
}

// sizeForms is appended to every parse error so the reader knows what to
// write instead.
const sizeForms = `want a whole or decimal number with an optional unit, like "4MiB", "512KiB", "100MB" or "123" (bytes); units: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024)`

// ParseSize reads a Size; see Size for the accepted forms.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.')
	})
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if num == "" {
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeForms)
	}
	mult := Size(0)
	if unit == "" {
		mult = B
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			mult = u.mult
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q; %s", s, unit, sizeForms)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		return Size(n) * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeForms)
	}
	v := math.Round(f * float64(mult))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(v), nil
}

// String writes the size with the largest unit that divides it exactly,
// preferring binary units, so that ParseSize(s.String()) == s.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if u.mult > 1 && s%u.mult == 0 {
			return strconv.FormatInt(int64(s/u.mult), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalText parses text with ParseSize.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes s.String().
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// Rate is a number of bytes per second written as a Size followed by "/s":
// "50MB/s", "1GiB/s". A plain "0" means zero, which callers read as
// "disabled".
type Rate int64

const rateForms = `want a size per second like "50MB/s" or "1GiB/s", or "0" to disable`

// ParseRate reads a Rate; see Rate for the accepted forms.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	n := len(t) - len("/s")
	if n < 0 || !strings.EqualFold(t[n:], "/s") {
		return 0, fmt.Errorf("invalid rate %q: %s", s, rateForms)
	}
	v, err := ParseSize(t[:n])
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %s", s, rateForms)
	}
	return Rate(v), nil
}

// String writes the rate as a Size per second, or "0".
func (r Rate) String() string {
	if r == 0 {
		return "0"
	}
	return Size(r).String() + "/s"
}

// UnmarshalText parses text with ParseRate.
func (r *Rate) UnmarshalText(text []byte) error {
	v, err := ParseRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText writes r.String().
func (r Rate) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}
