package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"haul/client"
)

// watchState is what a watch folder or a watch download remembers across
// restarts (<home>/watch/<id>.json).
type watchState struct {
	// Since: packages finalized before it are not fetched.
	Since time.Time `json:"since"`
	// Fetched maps a package id to the folder it went to.
	Fetched map[string]string `json:"fetched,omitempty"`
	// Sent maps a watched file (relative path) to the size and time it
	// was sent with.
	Sent map[string]string `json:"sent,omitempty"`
	// Batch is the package being sent, and BatchFiles its files, kept so
	// that a watch killed mid-batch resumes the same transfer.
	Batch      string   `json:"batch,omitempty"`
	BatchFiles []string `json:"batch_files,omitempty"`
}

func (a *App) watchPath(id string) string { return filepath.Join(a.Home, "watch", id+".json") }

func (a *App) loadWatch(id string) (*watchState, error) {
	ws := &watchState{Fetched: map[string]string{}, Sent: map[string]string{}}
	b, err := os.ReadFile(a.watchPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return ws, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, ws); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v)", a.watchPath(id), err)
	}
	if ws.Fetched == nil {
		ws.Fetched = map[string]string{}
	}
	if ws.Sent == nil {
		ws.Sent = map[string]string{}
	}
	return ws, nil
}

func (a *App) saveWatch(id string, ws *watchState) error {
	return writeFileAtomic(a.watchPath(id), mustJSON(ws), 0o600)
}

func (a *App) watch(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "upload" && args[0] != "download") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			a.flags("watch").Usage()
			return nil
		}
		return usageErr("haul watch upload DIR … or haul watch download …")
	}
	if args[0] == "upload" {
		return a.watchUpload(ctx, args[1:])
	}
	return a.watchDownload(ctx, args[1:])
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// watchDownload fetches every package received through a portal (or all
// of the team's portals) after the watch started, each into its own
// folder, exactly once: what was fetched is remembered across restarts.
func (a *App) watchDownload(ctx context.Context, args []string) error {
	fs := a.flags("watch")
	portal := fs.String("portal", "", "the portal (subdomain) whose packages to fetch")
	all := fs.Bool("all", false, "fetch what every portal of the team receives (a subfolder per portal)")
	dest := fs.String("dest", "", "the folder packages go to, each in its own folder")
	every := fs.Duration("interval", 10*time.Second, "how often to look for new packages")
	since := fs.String("since", "", "also fetch packages finalized since this time (RFC 3339); default: from the watch's first start")
	once := fs.Bool("once", false, "look once, fetch what is new, and exit")
	conns := fs.Int("connections", 4, "ranges fetched at once")
	limitRate := fs.String("limit-rate", "", "a rate limit, e.g. 50M (default: haul limits)")
	jsonOut := fs.Bool("json", false, "print JSON events, one a line")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if (*portal == "") == !*all || *dest == "" {
		return usageErr("haul watch download (--portal SUBDOMAIN | --all) --dest DIR")
	}
	cr, err := a.mustLogin()
	if err != nil {
		return err
	}
	c, err := clientFor(cr)
	if err != nil {
		return err
	}
	if err := a.resolveTeam(ctx, c, &cr); err != nil {
		return err
	}
	lim, err := a.limiterFor(*limitRate, false)
	if err != nil {
		return err
	}
	destAbs, err := filepath.Abs(*dest)
	if err != nil {
		return err
	}
	portals, err := c.Portals(ctx, cr.TeamID)
	if err != nil {
		return err
	}
	subOf := map[string]string{}
	portalID := ""
	for _, p := range portals {
		subOf[p.ID] = p.Subdomain
		if p.Subdomain == *portal {
			portalID = p.ID
		}
	}
	if *portal != "" && portalID == "" {
		return &Failure{Code: ExitGone, Msg: fmt.Sprintf("the team %q has no portal %q", cr.TeamName, *portal)}
	}
	id := transferID("watch-download", cr.URL, cr.TeamID, *portal, destAbs)
	ws, err := a.loadWatch(id)
	if err != nil {
		return err
	}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return usageErr("--since %q: an RFC 3339 time such as 2026-11-01T00:00:00Z", *since)
		}
		ws.Since = t
	}
	if ws.Since.IsZero() {
		ws.Since = time.Now().UTC()
	}
	if err := a.saveWatch(id, ws); err != nil {
		return err
	}
	rep := a.newReporter(*jsonOut, "fetching")
	rep.note("watching %s for packages finalized since %s", map[bool]string{true: "every portal", false: "portal " + *portal}[*all], ws.Since.Local().Format(time.RFC3339))
	for {
		// Packages are listed by creation; one created before the watch
		// started may finalize after it, so look back a week and filter.
		pkgs, err := c.Inbox(ctx, cr.TeamID, portalID, ws.Since.Add(-7*24*time.Hour))
		if err != nil {
			if *once || !transient(err) {
				return err
			}
			rep.note("listing the inbox failed (%v); trying again", err)
		}
		for _, p := range pkgs {
			if _, done := ws.Fetched[p.ID]; done || p.FinalizedAt.Before(ws.Since) {
				continue
			}
			folder := filepath.Join(destAbs, folderName(p.Name+" "+p.ID[max(0, len(p.ID)-6):], p.ID))
			if *all {
				folder = filepath.Join(destAbs, folderName(subOf[p.PortalID], "portal"), filepath.Base(folder))
			}
			if !inside(destAbs, folder) {
				rep.note("package %s: its name %q would leave %s; skipped", p.ID, p.Name, destAbs)
				continue
			}
			if err := a.fetchPackage(ctx, c, cr.TeamID, p.ID, folder, *conns, lim, rep); err != nil {
				if ctx.Err() != nil || *once {
					return err
				}
				// One bad package does not stop the watch: it is tried
				// again at the next look.
				fmt.Fprintf(a.Stderr, "haul: could not fetch %q (%s): %v; trying again at the next look\n", p.Name, p.ID, classify(err).Error())
				continue
			}
			ws.Fetched[p.ID] = folder
			if err := a.saveWatch(id, ws); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Fetched %q into %s.\n", p.Name, folder)
		}
		if *once {
			return nil
		}
		if err := sleepCtx(ctx, *every); err != nil {
			return err
		}
	}
}

// fetchPackage downloads a team package into folder (a transfer of its
// own, so a killed watch resumes it).
func (a *App) fetchPackage(ctx context.Context, c *client.Client, teamID, pkgID, folder string, conns int, lim *limiter, rep reporter) error {
	pkg, err := c.TeamPackage(ctx, teamID, pkgID)
	if err != nil {
		return err
	}
	if pkg.AccessToken == "" {
		return &Failure{Code: ExitAuth, Msg: "this credential may not download the team's received packages (an owner's or admin's API key can)"}
	}
	tr, _, err := a.begin(&Transfer{ID: transferID("watch-fetch", pkgID, folder), Kind: "download", Name: pkg.Name, Server: c.BaseURL,
		PackageID: pkgID, PackageToken: pkg.AccessToken, Dest: folder})
	if err != nil {
		return err
	}
	tr.update(false, func(t *Transfer) { t.PackageToken = pkg.AccessToken })
	err = tr.supervise(ctx, func(ctx context.Context) error {
		job, err := a.newDLJob(ctx, c, pkg.AccessToken, pkgID, folder, nil, conns, lim, rep)
		if err != nil {
			return err
		}
		defer job.root.Close()
		return job.run(ctx, tr)
	})
	tr.end(err)
	return err
}

// watchUpload sends the files that appear in a folder once they stop
// growing, a package per batch; with --delete-after a source is deleted
// only after its package is finalized and the server's BLAKE3 equals the
// agent's own.
func (a *App) watchUpload(ctx context.Context, args []string) error {
	fs := a.flags("watch")
	portal := fs.String("portal", "", "send to this portal (its subdomain)")
	server := fs.String("server", "", "the haul server (default: the logged-in one)")
	sender := fs.String("sender", "", "your email (portal uploads)")
	code := fs.String("access-code", "", "the portal's access code")
	var form multi
	fs.Var(&form, "form", "a portal form answer NAME=VALUE (repeatable)")
	to := fs.String("to", "", "recipients' emails, comma-separated")
	settle := fs.Duration("settle", 10*time.Second, "a file is sent once its size and time have not changed for this long")
	every := fs.Duration("interval", 10*time.Second, "how often to look at the folder")
	deleteAfter := fs.Bool("delete-after", false, "delete each source once the server holds it (finalized, and its BLAKE3 equals the local file's)")
	once := fs.Bool("once", false, "send what is ready now and exit")
	conns := fs.Int("connections", 4, "parts in flight at once")
	limitRate := fs.String("limit-rate", "", "a rate limit, e.g. 50M (default: haul limits)")
	jsonOut := fs.Bool("json", false, "print JSON events, one a line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || ((*portal == "") == (*to == "")) || (*portal != "" && *sender == "") {
		return usageErr("haul watch upload DIR (--portal SUBDOMAIN --sender EMAIL | --to EMAILS)")
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usageErr("%s is not a folder", pos[0])
	}
	id := transferID("watch-upload", dir, *portal, *to)
	ws, err := a.loadWatch(id)
	if err != nil {
		return err
	}
	type seen struct {
		size int64
		mod  time.Time
	}
	last := map[string]seen{}
	for {
		files, err := collect([]string{dir})
		if err != nil {
			return err
		}
		var ready []localFile
		now := time.Now()
		for _, f := range files {
			f.rel = strings.TrimPrefix(f.rel, filepath.Base(dir)+"/") // the folder's contents, not the folder
			sig := fmt.Sprintf("%d|%d", f.size, f.mod.UnixNano())
			if ws.Sent[f.rel] == sig {
				continue
			}
			prev, ok := last[f.rel]
			last[f.rel] = seen{f.size, f.mod}
			stable := now.Sub(f.mod) >= *settle && (*once || (ok && prev.size == f.size && prev.mod.Equal(f.mod)))
			if stable {
				ready = append(ready, f)
			}
		}
		if len(ws.BatchFiles) > 0 {
			// A batch interrupted by a crash goes first, as it was (the
			// files of it still there, unchanged).
			want := map[string]bool{}
			for _, rel := range ws.BatchFiles {
				want[rel] = true
			}
			ready = ready[:0]
			for _, f := range files {
				f.rel = strings.TrimPrefix(f.rel, filepath.Base(dir)+"/")
				if want[f.rel] {
					ready = append(ready, f)
				}
			}
		}
		if len(ready) > 0 {
			sort.Slice(ready, func(i, j int) bool { return ready[i].rel < ready[j].rel })
			if ws.Batch == "" {
				ws.Batch = filepath.Base(dir) + " " + time.Now().Format("2006-01-02 15:04:05")
				ws.BatchFiles = nil
				for _, f := range ready {
					ws.BatchFiles = append(ws.BatchFiles, f.rel)
				}
				if err := a.saveWatch(id, ws); err != nil {
					return err
				}
			}
			name := ws.Batch
			if err := a.sendBatch(ctx, ready, name, *portal, *server, *sender, *code, form, *to, *conns, *limitRate, *jsonOut); err != nil {
				if ctx.Err() != nil || *once {
					return err
				}
				fmt.Fprintf(a.Stderr, "haul: sending %q failed: %v; trying again at the next look\n", name, classify(err).Error())
				if err := sleepCtx(ctx, *every); err != nil {
					return err
				}
				continue
			}
			for _, f := range ready {
				ws.Sent[f.rel] = fmt.Sprintf("%d|%d", f.size, f.mod.UnixNano())
			}
			ws.Batch, ws.BatchFiles = "", nil
			if err := a.saveWatch(id, ws); err != nil {
				return err
			}
			if *deleteAfter {
				for _, f := range ready {
					// Only what was sent and verified: a file that changed
					// since stays (and is sent again as new).
					info, err := os.Stat(f.abs)
					if err != nil || info.Size() != f.size || !info.ModTime().Equal(f.mod) {
						fmt.Fprintf(a.Stderr, "haul: %s changed after it was sent: kept, and sent again\n", f.abs)
						continue
					}
					if err := os.Remove(f.abs); err != nil {
						fmt.Fprintf(a.Stderr, "haul: could not delete %s after sending it: %v\n", f.abs, err)
					}
				}
			}
		}
		if *once {
			return nil
		}
		if err := sleepCtx(ctx, *every); err != nil {
			return err
		}
	}
}

// sendBatch sends files as one package through the upload command's own
// path (state, resume, verification against local BLAKE3s).
func (a *App) sendBatch(ctx context.Context, files []localFile, name, portal, server, sender, code string, form []string, to string, conns int, limitRate string, jsonOut bool) error {
	args := []string{"--name", name, "--connections", fmt.Sprint(conns), "--verify-local"}
	if portal != "" {
		args = append(args, "--portal", portal, "--sender", sender)
		if code != "" {
			args = append(args, "--access-code", code)
		}
		for _, f := range form {
			args = append(args, "--form", f)
		}
	} else {
		args = append(args, "--to", to)
	}
	if server != "" {
		args = append(args, "--server", server)
	}
	if limitRate != "" {
		args = append(args, "--limit-rate", limitRate)
	}
	if jsonOut {
		args = append(args, "--json")
	}
	a.pinned = files
	defer func() { a.pinned = nil }()
	return a.upload(ctx, append(args, "--"))
}
