package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Size
	}{
		{"plain bytes", "123", 123},
		{"zero", "0", 0},
		{"bytes unit", "512B", 512},
		{"KiB", "512KiB", 512 * 1024},
		{"MiB", "4MiB", 4 << 20},
		{"GiB", "1GiB", 1 << 30},
		{"TiB", "2TiB", 2 << 40},
		{"KB", "10KB", 10_000},
		{"MB", "100MB", 100_000_000},
		{"GB", "1GB", 1_000_000_000},
		{"TB", "3TB", 3_000_000_000_000},
		{"lower case", "4mib", 4 << 20},
		{"upper case", "4MIB", 4 << 20},
		{"lower decimal", "5mb", 5_000_000},
		{"space before unit", "4 MiB", 4 << 20},
		{"surrounding space", " 1GiB ", 1 << 30},
		{"decimal", "1.5KiB", 1536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSizeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `invalid size ""`},
		{"unit only", "MiB", `invalid size "MiB"`},
		{"unknown unit", "4MB/s", `unknown unit "MB/s"`},
		{"short unit", "4M", `unknown unit "M"`},
		{"negative", "-1", `invalid size "-1"`},
		{"two dots", "1.2.3MB", `invalid size "1.2.3MB"`},
		{"overflow", "9999999TiB", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSize(tt.in)
			if err == nil {
				t.Fatalf("ParseSize(%q) succeeded, want error", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.name != "overflow" && !strings.Contains(err.Error(), `like "4MiB"`) {
				t.Errorf("error %q does not say which forms are accepted", err)
			}
		})
	}
}

func TestSizeStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Size
		want string
	}{
		{"zero", 0, "0"},
		{"odd bytes", 123, "123"},
		{"binary", 4 * MiB, "4MiB"},
		{"decimal", 50 * MB, "50MB"},
		{"mixed prefers binary", 1000 * KiB, "1000KiB"},
		{"tebibyte", 3 * TiB, "3TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, err := ParseSize(tt.in.String())
			if err != nil || back != tt.in {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in.String(), back, err, tt.in)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Rate
		wantErr bool
	}{
		{"decimal MB", "50MB/s", 50_000_000, false},
		{"binary GiB", "1GiB/s", 1 << 30, false},
		{"bytes", "123/s", 123, false},
		{"lower case", "10kib/S", 10 * 1024, false},
		{"zero disables", "0", 0, false},
		{"zero per second", "0/s", 0, false},
		{"missing per second", "50MB", 0, true},
		{"empty", "", 0, true},
		{"per minute", "50MB/m", 0, true},
		{"bad size", "fastMB/s", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseRate(%q) = %d, want error", tt.in, got)
				}
				if !strings.Contains(err.Error(), `"50MB/s"`) {
					t.Errorf("error %q does not say which forms are accepted", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseRate(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if back, err := ParseRate(got.String()); err != nil || back != got {
				t.Errorf("round trip of %q: %d, %v", got.String(), back, err)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	var d Duration
	if err := d.UnmarshalText([]byte("1h30m")); err != nil {
		t.Fatal(err)
	}
	if d.Duration != 90*time.Minute {
		t.Errorf("got %v, want 1h30m", d.Duration)
	}
	text, err := d.MarshalText()
	if err != nil || string(text) != "1h30m0s" {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
	if err := d.UnmarshalText([]byte("abc")); err == nil || !strings.Contains(err.Error(), `invalid duration "abc"`) {
		t.Errorf("UnmarshalText(abc) error = %v", err)
	}
}
