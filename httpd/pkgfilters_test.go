package httpd_test

import (
	"testing"
	"time"
)

// TestPackageListFilters: MASV's list filters and sort keys.
func TestPackageListFilters(t *testing.T) {
	e := newEnv(t)
	o := e.owner()
	key := apiKey(o.APIKey)
	for _, name := range []string{"Reel A dailies", "Reel B dailies", "Final mix"} {
		e.must(201, "POST", "/v1/teams/"+e.TeamID+"/packages", map[string]any{"name": name}, key)
	}
	list := func(q string) []string {
		t.Helper()
		var out struct {
			Metadata struct{ Total int }
			Records  []struct{ Name string }
		}
		e.must(200, "GET", "/v1.1/teams/"+e.TeamID+"/packages?status[]=new&"+q, nil, key).JSON(t, &out)
		var names []string
		for _, r := range out.Records {
			names = append(names, r.Name)
		}
		if out.Metadata.Total != len(names) {
			t.Fatalf("%s: total %d for %d records", q, out.Metadata.Total, len(names))
		}
		return names
	}
	if got := list("name=DAILIES&sort=-name"); len(got) != 2 || got[0] != "Reel B dailies" {
		t.Fatalf("name filter, sorted descending: %v", got)
	}
	if got := list("sender=" + ownerEmail); len(got) != 3 {
		t.Fatalf("sender filter: %v", got)
	}
	if got := list("sender=someone-else"); len(got) != 0 {
		t.Fatalf("sender filter for nobody: %v", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := list("created_at_start=" + future); len(got) != 0 {
		t.Fatalf("created after an hour from now: %v", got)
	}
	if got := list("created_at_end=" + future + "&sort=sender"); len(got) != 3 {
		t.Fatalf("created before an hour from now: %v", got)
	}
	e.must(400, "GET", "/v1.1/teams/"+e.TeamID+"/packages?expiry_start=tomorrow", nil, key)
	e.must(400, "GET", "/v1.1/teams/"+e.TeamID+"/packages?sort=colour", nil, key)
}
