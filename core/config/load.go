package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// envPrefix starts every environment variable that sets a key.
const envPrefix = "HAUL_"

// agentEnvPrefix starts the variables the upload agent reads (HAUL_AGENT_URL,
// HAUL_AGENT_API_KEY); the server ignores them even though they share
// envPrefix.
const agentEnvPrefix = "HAUL_AGENT_"

// Load returns the configuration: Default, overlaid with the TOML file at
// path (skipped when path is empty), overlaid with the HAUL_* variables in
// environ (main passes os.Environ()), then validated.
//
// An unknown key in the file, or an unknown HAUL_ variable for a known
// section, is an error, so a typo never silently leaves a default in place.
// Every error names the file and key or the variable. When TLS is on and
// server.listen was set by neither the file nor the environment, the
// listener moves to ":443". Flags that main applies afterwards override all
// of this; main should call Validate again after applying them.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	s := schemaOf()
	set := map[string]bool{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		if err := s.decodeFile(&c, path, data, set); err != nil {
			return Config{}, err
		}
	}
	if err := s.applyEnv(&c, environ, set); err != nil {
		return Config{}, err
	}
	if c.TLS.Mode != "off" && !set["server.listen"] {
		c.Server.Listen = TLSListen
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// leaf is one key of Config: a field that is not itself a section.
type leaf struct {
	key   string // dotted toml path, "storage.s3.endpoint"
	env   string // HAUL_STORAGE_S3_ENDPOINT
	index []int  // for reflect.Value.FieldByIndex on a Config
}

// schema is the set of keys and sections of Config, read from its toml
// tags. It is what lets the file decoder, the environment overrides and the
// tests treat every key alike.
type schema struct {
	leaves   []leaf
	byKey    map[string]leaf
	byEnv    map[string]leaf
	sections []string // dotted paths of the nested structs, "storage.s3"
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// schemaOf walks Config's fields. It panics on a field of a kind the
// decoders do not handle; the tests call it, so such a field never ships.
func schemaOf() *schema {
	s := &schema{byKey: map[string]leaf{}, byEnv: map[string]leaf{}}
	s.walk(reflect.TypeFor[Config](), "", nil)
	return s
}

func (s *schema) walk(t reflect.Type, prefix string, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && !isText(f.Type) {
			s.sections = append(s.sections, key)
			s.walk(f.Type, key, idx)
			continue
		}
		if !supported(f.Type) {
			panic(fmt.Sprintf("config: key %s has unsupported type %s", key, f.Type))
		}
		l := leaf{key: key, env: envName(key), index: idx}
		s.leaves = append(s.leaves, l)
		s.byKey[key] = l
		s.byEnv[l.env] = l
	}
}

// envName is the environment variable for a dotted key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func supported(t reflect.Type) bool {
	if isText(t) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

func (s *schema) isSection(key string) bool {
	for _, sec := range s.sections {
		if sec == key {
			return true
		}
	}
	return false
}

// decodeFile overlays the TOML document data onto c and records each key it
// sets. The document is parsed into a generic map and applied key by key, in
// file order, so the first error names its key plainly.
func (s *schema) decodeFile(c *Config, path string, data []byte, set map[string]bool) error {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rv := reflect.ValueOf(c).Elem()
	for _, k := range md.Keys() {
		key := k.String()
		v := lookup(raw, k)
		if s.isSection(key) {
			if _, ok := v.(map[string]any); !ok {
				return fmt.Errorf("%s: %s: want a table [%s], not %s", path, key, key, describe(v))
			}
			continue
		}
		l, ok := s.byKey[key]
		if !ok {
			return fmt.Errorf("%s: unknown key %q%s", path, key, suggest(key, s.keys()))
		}
		if err := setTOML(rv.FieldByIndex(l.index), v); err != nil {
			return fmt.Errorf("%s: %s: %w", path, key, err)
		}
		set[key] = true
	}
	return nil
}

// lookup finds the value of key k in the parsed document.
func lookup(m map[string]any, k toml.Key) any {
	var v any = m
	for _, part := range k {
		t, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = t[part]
	}
	return v
}

// setTOML stores a parsed TOML value in the leaf field v.
func setTOML(v reflect.Value, raw any) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		switch r := raw.(type) {
		case string:
			return u.UnmarshalText([]byte(r))
		case int64: // block_size = 4194304 means bytes
			return u.UnmarshalText([]byte(strconv.FormatInt(r, 10)))
		}
		return fmt.Errorf("want a string, not %s", describe(raw))
	}
	switch v.Kind() {
	case reflect.String:
		r, ok := raw.(string)
		if !ok {
			return fmt.Errorf("want a string, not %s", describe(raw))
		}
		v.SetString(r)
	case reflect.Bool:
		r, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("want true or false, not %s", describe(raw))
		}
		v.SetBool(r)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		r, ok := raw.(int64)
		if !ok {
			return fmt.Errorf("want an integer, not %s", describe(raw))
		}
		if v.OverflowInt(r) {
			return fmt.Errorf("%d is out of range", r)
		}
		v.SetInt(r)
	case reflect.Slice:
		r, ok := raw.([]any)
		if !ok {
			return fmt.Errorf("want a list of strings, not %s", describe(raw))
		}
		list := make([]string, 0, len(r))
		for i, item := range r {
			s, ok := item.(string)
			if !ok {
				return fmt.Errorf("item %d: want a string, not %s", i+1, describe(item))
			}
			list = append(list, s)
		}
		setList(v, list)
	}
	return nil
}

// setList stores list in v, keeping an empty list nil so that a decoded
// "[]" equals Default.
func setList(v reflect.Value, list []string) {
	if len(list) == 0 {
		v.SetZero()
		return
	}
	v.Set(reflect.ValueOf(list))
}

// describe names the TOML type of a parsed value for error messages.
func describe(v any) string {
	switch r := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", r)
	case int64:
		return fmt.Sprintf("an integer (%d)", r)
	case float64:
		return fmt.Sprintf("a float (%v)", r)
	case bool:
		return fmt.Sprintf("a boolean (%v)", r)
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// applyEnv overlays the HAUL_* variables in environ onto c and records each
// key it sets. Variables for the agent, and HAUL_ variables outside every
// section, are left alone; those inside a section must name one of its keys.
func (s *schema) applyEnv(c *Config, environ []string, set map[string]bool) error {
	rv := reflect.ValueOf(c).Elem()
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || strings.HasPrefix(name, agentEnvPrefix) {
			continue
		}
		l, ok := s.byEnv[name]
		if !ok {
			if sec := s.envSection(name); sec != "" {
				errs = append(errs, fmt.Errorf("%s: unknown variable: [%s] has no such key%s", name, sec, suggest(name, s.envs())))
			}
			continue
		}
		if err := setEnv(rv.FieldByIndex(l.index), val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		set[l.key] = true
	}
	return errors.Join(errs...)
}

// envSection returns the most specific section whose variable prefix
// (HAUL_STORAGE_S3_ for storage.s3) starts name, or "" if none does.
func (s *schema) envSection(name string) string {
	best := ""
	for _, sec := range s.sections {
		if strings.HasPrefix(name, envName(sec)+"_") && len(sec) > len(best) {
			best = sec
		}
	}
	return best
}

// setEnv parses an environment value into the leaf field v. Lists are
// comma-separated; an empty value empties a list.
func setEnv(v reflect.Value, val string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(val))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q is not a boolean; want true or false", val)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", val)
		}
		if v.OverflowInt(n) {
			return fmt.Errorf("%d is out of range", n)
		}
		v.SetInt(n)
	case reflect.Slice:
		var list []string
		for item := range strings.SplitSeq(val, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		setList(v, list)
	}
	return nil
}

func (s *schema) keys() []string {
	out := make([]string, len(s.leaves))
	for i, l := range s.leaves {
		out[i] = l.key
	}
	return out
}

func (s *schema) envs() []string {
	out := make([]string, len(s.leaves))
	for i, l := range s.leaves {
		out[i] = l.env
	}
	return out
}

// suggest returns `; did you mean "x"?` for the candidate closest to got,
// if one is close enough to be a likely typo, else "".
func suggest(got string, candidates []string) string {
	best, bestD := "", 3 // at most two edits away
	for _, c := range candidates {
		if d := editDistance(got, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
