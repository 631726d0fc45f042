package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"haul/client"
)

// skipNames are files no one means to send (MASV skips the same).
var skipNames = map[string]bool{".DS_Store": true, "desktop.ini": true, ".fcpcache": true, "Thumbs.db": true}

// localFile is a file to send: rel is its path in the package (folders
// keep their structure: a folder argument's own name is its top).
type localFile struct {
	abs  string
	rel  string
	size int64
	mod  time.Time
}

func (f localFile) dir() string {
	d := filepath.ToSlash(filepath.Dir(f.rel))
	if d == "." {
		return ""
	}
	return d
}

// collect walks the paths into files, in a stable order.
func collect(paths []string) ([]localFile, error) {
	var out []localFile
	seen := map[string]string{}
	add := func(abs, rel string, info fs.FileInfo) error {
		rel = filepath.ToSlash(rel)
		if prev, dup := seen[rel]; dup {
			return usageErr("%s and %s would both be %q in the package: send them separately", prev, abs, rel)
		}
		seen[rel] = abs
		out = append(out, localFile{abs: abs, rel: rel, size: info.Size(), mod: info.ModTime()})
		return nil
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(abs)
		if err != nil {
			return nil, fail(ExitLocal, err, "%v", err)
		}
		if !info.IsDir() {
			if err := add(abs, filepath.Base(abs), info); err != nil {
				return nil, err
			}
			continue
		}
		top := filepath.Dir(abs)
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fail(ExitLocal, err, "reading %s: %v", path, err)
			}
			if skipNames[d.Name()] {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := os.Stat(path) // follows a symlink to its file
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(top, path)
			if err != nil {
				return err
			}
			return add(path, rel, info)
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// parseSize reads a size such as 64M or 1G (binary multiples) or bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "B"), "i")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
	}
	if mult > 1 {
		t = t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, usageErr("%q is not a size: say 64M or 1G", s)
	}
	return n * mult, nil
}

// parseExpiry reads 2026-12-31 (the end of that day, local time), 14d or
// a Go duration such as 72h.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.AddDate(0, 0, days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, usageErr("--expiry %q: say 2026-12-31, 14d or 72h", s)
}

// uploadJob is what one upload command sends, and where.
type uploadJob struct {
	c        *client.Client // the team's credential (nil for a portal)
	pc       *client.Client // no credential: portal calls
	teamID   string
	files    []localFile
	pkg      client.CreatePackageRequest
	portal   string
	sender   string
	code     string
	form     []string
	terms    bool
	link     bool
	chunk    int64
	conns    int
	dedup    bool
	lim      *limiter
	rep      reporter
	sent     atomic.Int64 // part bytes sent
	held     atomic.Int64 // part bytes the server had (resumed, by reference)
	verify   bool         // check each file's digest against a local BLAKE3
	onFinish func(t *Transfer) error
}

func (a *App) upload(ctx context.Context, args []string) error {
	fs := a.flags("upload")
	to := fs.String("to", "", "recipients' emails, comma-separated (each gets their own link)")
	asLink := fs.Bool("link", false, "make a shareable link and print it")
	portal := fs.String("portal", "", "send to this portal (its subdomain) instead of the team")
	server := fs.String("server", "", "the haul server (default: the logged-in one); a portal upload needs no login")
	sender := fs.String("sender", "", "your email (portal uploads)")
	code := fs.String("access-code", "", "the portal's access code")
	var form multi
	fs.Var(&form, "form", "a portal form answer NAME=VALUE (repeatable; several choices: NAME=a,b)")
	terms := fs.Bool("accept-terms", false, "accept the portal's terms of service")
	name := fs.String("name", "", "the package's name (default: the first path's name)")
	desc := fs.String("description", "", "the package's description")
	password := fs.String("password", "", "a download password for recipients")
	expiry := fs.String("expiry", "", "when the package expires: 2026-12-31, 14d or 72h (default: the team's)")
	team := fs.String("team", "", "the team (default: the logged-in team)")
	chunk := fs.String("chunk-size", "", "part size, e.g. 64M (default: the server's)")
	conns := fs.Int("connections", 4, "parts in flight at once")
	limitRate := fs.String("limit-rate", "", "a rate limit for this upload, e.g. 50M (default: haul limits)")
	noDedup := fs.Bool("no-dedup", false, "send every byte (team uploads otherwise skip parts whose blocks the team already stores)")
	verifyLocal := fs.Bool("verify-local", false, "after sending each file, read it again and check its BLAKE3 against the server's")
	jsonOut := fs.Bool("json", false, "print JSON events, one a line")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 && a.pinned == nil {
		return usageErr("nothing to send: haul upload PATH... (files or folders)")
	}
	targets := 0
	for _, set := range []bool{*to != "", *asLink, *portal != ""} {
		if set {
			targets++
		}
	}
	if targets != 1 && !(*to != "" && *asLink) {
		return usageErr("say where to send: --to EMAILS, --link, or --portal SUBDOMAIN --sender EMAIL")
	}
	if *portal != "" && *sender == "" {
		return usageErr("a portal upload needs --sender EMAIL (yours: the portal's owners see it)")
	}
	if *conns < 1 || *conns > 64 {
		return usageErr("--connections must be between 1 and 64")
	}
	files := a.pinned
	if files == nil {
		if files, err = collect(paths); err != nil {
			return err
		}
	}
	if len(files) == 0 {
		return usageErr("no files under %s (%s are skipped)", strings.Join(paths, ", "), ".DS_Store, desktop.ini, .fcpcache")
	}
	job := &uploadJob{files: files, portal: *portal, sender: *sender, code: *code, form: form, terms: *terms, link: *asLink,
		conns: *conns, dedup: !*noDedup && *portal == "", verify: *verifyLocal}
	if *chunk != "" {
		if job.chunk, err = parseSize(*chunk); err != nil {
			return err
		}
	}
	if job.lim, err = a.limiterFor(*limitRate, true); err != nil {
		return err
	}
	exp, err := parseExpiry(*expiry, time.Now())
	if err != nil {
		return err
	}
	job.pkg = client.CreatePackageRequest{Name: *name, Description: *desc, Password: *password, Expiry: exp}
	if job.pkg.Name == "" && len(paths) > 0 {
		job.pkg.Name = filepath.Base(strings.TrimRight(paths[0], string(filepath.Separator)))
	}
	for _, r := range strings.Split(*to, ",") {
		if r = strings.TrimSpace(r); r != "" {
			job.pkg.Recipients = append(job.pkg.Recipients, r)
		}
	}

	cr, err := a.credentials()
	if err != nil {
		return err
	}
	if *server != "" {
		cr.URL = *server
	}
	if *portal == "" {
		if cr, err = a.mustLogin(); err != nil {
			return err
		}
		if *server != "" {
			cr.URL = *server
		}
		job.teamID = cr.TeamID
		if *team != "" {
			job.teamID = *team
		}
	} else if cr.URL == "" {
		return usageErr("which server? --server https://haul.studio.example (or haul login)")
	}
	if job.c, err = clientFor(cr); err != nil {
		return err
	}
	if *portal == "" && job.teamID == "" {
		if err := a.resolveTeam(ctx, job.c, &cr); err != nil {
			return err
		}
		job.teamID = cr.TeamID
	}
	pc := *job.c
	pc.APIKey, pc.UserToken = "", ""
	job.pc = &pc

	target := "to:" + strings.Join(job.pkg.Recipients, ",")
	if *asLink {
		target += "|link"
	}
	if *portal != "" {
		target = "portal:" + *portal
	}
	key := []string{cr.URL, target, job.pkg.Name}
	for _, f := range files {
		key = append(key, f.abs)
	}
	cwd, _ := os.Getwd()
	id := transferID(key...)
	cmdline := append([]string{"upload"}, args...)
	if a.pinned != nil {
		// A watch folder's batch: the watch resumes it, and a batch
		// delivered before a crash (its state says done) is not sent again.
		cmdline = nil
		if old, err := a.loadTransfer(id); err == nil && old.State == StateDone {
			return nil
		}
	}
	tr, resumed, err := a.begin(&Transfer{ID: id, Kind: "upload", Name: job.pkg.Name, Args: cmdline, Dir: cwd, Server: cr.URL})
	if err != nil {
		return err
	}
	job.rep = a.newReporter(*jsonOut, "sending")
	if resumed {
		job.rep.note("resuming transfer %s (package %s)", tr.t.ID, tr.t.PackageID)
	}
	err = tr.supervise(ctx, func(ctx context.Context) error { return a.runUpload(ctx, tr, job) })
	tr.end(err)
	return err
}

// runUpload makes (or finds) the package, sends every file not yet sent
// (resuming a started one from the parts the server holds), finalizes it
// and prints what recipients need.
func (a *App) runUpload(ctx context.Context, tr *tracker, job *uploadJob) error {
	t := tr.t
	if t.PackageID == "" {
		pkg, err := job.createPackage(ctx)
		if err != nil {
			return err
		}
		if err := tr.update(true, func(t *Transfer) { t.PackageID, t.PackageToken = pkg.ID, pkg.AccessToken }); err != nil {
			return err
		}
	}
	var total int64
	for _, f := range job.files {
		total += f.size
	}
	if err := job.dropOrphans(ctx, tr); err != nil {
		return err
	}
	tr.update(false, func(t *Transfer) { t.Total, t.Done = total, 0 })
	job.rep.begin(total, len(job.files))
	for _, f := range job.files {
		tr.mu.Lock()
		st := t.Files[f.rel]
		if st != nil && (st.Size != f.size || !st.ModTime.Equal(f.mod)) && (st.Upload != nil || st.Complete) {
			tr.mu.Unlock()
			return usageErr("%s changed since the interrupted upload began sending it: haul transfers cancel %s, then send again", f.abs, t.ID)
		}
		if st == nil {
			st = &FileState{Size: f.size, ModTime: f.mod}
			t.Files[f.rel] = st
		}
		done := st.Complete
		tr.mu.Unlock()
		if done {
			job.rep.add(f.rel, f.size)
			tr.update(false, func(t *Transfer) { t.Done += f.size })
			continue
		}
		digest, err := a.sendFile(ctx, tr, job, f, st)
		if err != nil {
			return err
		}
		tr.update(true, func(t *Transfer) { st.Complete, st.Digest = true, digest })
		job.rep.fileDone(f.rel, digest)
	}
	// Finalizing again is harmless (200); any error means the package is
	// not delivered, whatever else happened.
	if _, err := job.c.FinalizePackage(ctx, t.PackageToken, t.PackageID); err != nil {
		return fmt.Errorf("finalizing the package: %w", err)
	}
	if job.portal == "" && len(t.Links) == 0 {
		if err := job.links(ctx, tr); err != nil {
			return err
		}
	}
	summary := map[string]any{"package_id": t.PackageID, "files": len(job.files), "bytes": total,
		"bytes_sent": job.sent.Load(), "bytes_held": job.held.Load(), "links": t.Links}
	job.rep.finish(summary)
	if job.onFinish != nil {
		return job.onFinish(t)
	}
	fmt.Fprintf(a.Stdout, "Package %s: %d file(s), %s.\n", t.PackageID, len(job.files), human(total))
	for _, l := range t.Links {
		fmt.Fprintln(a.Stdout, l)
	}
	if job.portal != "" {
		fmt.Fprintf(a.Stdout, "Delivered to the portal %s.\n", job.portal)
	}
	return nil
}

// dropOrphans deletes the package's files that are not finalized and that
// no saved upload knows (an add-file whose answer, or whose upload, a
// crash lost): they would keep the package from being finalized.
func (job *uploadJob) dropOrphans(ctx context.Context, tr *tracker) error {
	t := tr.t
	known := map[string]bool{}
	tr.mu.Lock()
	for _, st := range t.Files {
		if st.Upload != nil {
			known[st.Upload.FileID] = true
		}
	}
	tr.mu.Unlock()
	files, err := job.c.Files(ctx, t.PackageToken, t.PackageID)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Kind == "file" && f.State != "finalized" && !known[f.ID] {
			if err := job.c.DeleteFile(ctx, t.PackageToken, t.PackageID, f.ID); err != nil && client.StatusOf(err) != http.StatusNotFound {
				return fmt.Errorf("removing the unfinished %s/%s left by an interrupted run: %w", f.Path, f.Name, err)
			}
		}
	}
	return nil
}

// createPackage makes the team package or the portal package.
func (job *uploadJob) createPackage(ctx context.Context) (*client.Package, error) {
	if job.portal == "" {
		return job.c.CreatePackage(ctx, job.teamID, job.pkg)
	}
	face, err := job.pc.PortalBySubdomain(ctx, job.portal)
	if err != nil {
		return nil, err
	}
	if !face.AcceptingUploads {
		return nil, &Failure{Code: ExitGone, Msg: fmt.Sprintf("the portal %s takes no uploads: %s", job.portal, face.Reason)}
	}
	if face.HasAccessCode && job.code == "" {
		return nil, &Failure{Code: ExitAuth, Msg: "the portal " + job.portal + " asks for an access code: add --access-code CODE"}
	}
	req := client.PortalPackageRequest{Name: job.pkg.Name, Sender: job.sender, Description: job.pkg.Description, AccessCode: job.code, TermsAccepted: job.terms}
	if face.Form != nil {
		values := map[string]any{}
		types := map[string]string{}
		for _, f := range face.Form.Fields {
			types[f.Name] = f.Type
		}
		for _, kv := range job.form {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, usageErr("--form %q: say NAME=VALUE", kv)
			}
			switch types[k] {
			case "number":
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, usageErr("--form %s: %q is not a number", k, v)
				}
				values[k] = n
			case "checkbox":
				if b, err := strconv.ParseBool(v); err == nil {
					values[k] = b
				} else {
					values[k] = strings.Split(v, ",")
				}
			default:
				values[k] = v
			}
		}
		id, err := job.pc.SubmitForm(ctx, face.ID, values)
		if err != nil {
			return nil, err
		}
		req.FormDataID = id
	} else if len(job.form) > 0 {
		return nil, usageErr("the portal %s has no form: drop --form", job.portal)
	}
	c := job.pc
	if job.c.APIKey != "" || job.c.UserToken != "" {
		c = job.c // a portal that requires sign-in sees who sends
	}
	return c.CreatePortalPackage(ctx, face.ID, req)
}

// links makes the shareable link (--link) and lists every link to print.
func (job *uploadJob) links(ctx context.Context, tr *tracker) error {
	t := tr.t
	if job.link {
		if _, err := job.c.CreateLink(ctx, t.PackageToken, t.PackageID, client.CreateLinkRequest{}); err != nil {
			return err
		}
	}
	ls, err := job.c.Links(ctx, t.PackageToken, t.PackageID)
	if err != nil {
		return err
	}
	var out []string
	for _, l := range ls {
		if l.Disabled {
			continue
		}
		// A direct link shows the sender's email (MASV's way): only a
		// recipient's link is labelled with its address.
		who := "link"
		if slices.ContainsFunc(job.pkg.Recipients, func(r string) bool { return strings.EqualFold(r, l.Email) }) {
			who = l.Email
		}
		out = append(out, who+": "+l.URL)
	}
	return tr.update(true, func(t *Transfer) { t.Links = out })
}

// sendFile sends one file: resumed from the parts the server holds when
// an upload of it was started before, else by content (team uploads:
// parts whose blocks the team stores are recorded, not sent) or plainly.
func (a *App) sendFile(ctx context.Context, tr *tracker, job *uploadJob, f localFile, st *FileState) (string, error) {
	src, err := os.Open(f.abs)
	if err != nil {
		return "", fail(ExitLocal, err, "%v", err)
	}
	defer src.Close()
	t := tr.t
	job.rep.fileStart(f.rel, f.size, 0)
	opt := client.UploadOptions{
		LastModified: f.mod,
		StallTimeout: stallTimeout, // a server that stops taking a part's bytes
		Progress: func(n int64) {
			job.rep.add(f.rel, n)
			tr.update(false, func(t *Transfer) { t.Done += n })
		},
		OnPart: func(part int, size int64, sent bool) {
			if sent {
				job.sent.Add(size)
			} else {
				job.held.Add(size)
			}
			job.rep.part(f.rel, part, size, sent)
		},
		Throttle: job.lim.wait,
		OnStart: func(u client.Upload) {
			tr.update(true, func(*Transfer) { st.Upload = &u })
		},
	}
	if job.lim == nil {
		opt.Throttle = nil
	}
	var file *client.File
	if st.Upload != nil {
		file, err = job.c.ResumeUpload(ctx, t.PackageToken, *st.Upload, src, f.size, job.conns, opt)
		if client.StatusOf(err) == http.StatusNotFound {
			job.rep.note("the server no longer has the started upload of %s: sending it again", f.rel)
			old := st.Upload.FileID
			if derr := job.c.DeleteFile(ctx, t.PackageToken, t.PackageID, old); derr != nil && client.StatusOf(derr) != http.StatusNotFound {
				return "", derr
			}
			tr.update(true, func(*Transfer) { st.Upload = nil })
			return a.sendFile(ctx, tr, job, f, st)
		}
	} else if job.dedup {
		var res *client.ContentResult
		res, err = job.c.UploadFileByContent(ctx, job.teamID, t.PackageToken, t.PackageID, filepath.Base(f.rel), f.dir(), src, f.size, job.chunk, job.conns, opt)
		if res != nil {
			file = res.File
		}
	} else {
		file, err = job.c.UploadFileWith(ctx, t.PackageToken, t.PackageID, filepath.Base(f.rel), f.dir(), src, f.size, job.chunk, job.conns, opt)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, errPaused) {
			return "", err
		}
		return "", fmt.Errorf("sending %s: %w", f.rel, err)
	}
	if job.verify {
		if err := verifyLocal(f.abs, file.Digest); err != nil {
			return "", err
		}
	}
	return file.Digest, nil
}
