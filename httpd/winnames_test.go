package httpd_test

import (
	"strings"
	"testing"
)

// TestWindowsReservedNamesKeptAndFlagged: a name Windows cannot hold is
// accepted as sent and flagged in the file list.
func TestWindowsReservedNamesKeptAndFlagged(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	pid, ptok := e.newPackage(apiKey(o.APIKey), "names")
	tok := header("X-Package-Token", ptok)
	e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "aux.txt", "path": "reel 1", "size": 10}, tok)
	e.must(201, "POST", "/v1/packages/"+pid+"/files", map[string]any{"kind": "file", "name": "clip.mov", "path": "reel 1", "size": 10}, tok)
	var files []map[string]any
	e.must(200, "GET", "/v1/packages/"+pid+"/files", nil, tok).JSON(t, &files)
	if len(files) != 2 {
		t.Fatalf("files = %v", files)
	}
	for _, f := range files {
		flag, _ := f["windows_unsafe"].(string)
		switch f["name"] {
		case "aux.txt":
			if !strings.Contains(flag, "reserved") {
				t.Errorf("aux.txt not flagged: %v", f)
			}
		case "clip.mov":
			if flag != "" {
				t.Errorf("clip.mov flagged: %q", flag)
			}
		}
	}
}
