package agent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"

	"haul/client"
)

// stallTimeout drops a connection that delivers nothing for this long.
var stallTimeout = 60 * time.Second

// errStalled is a connection dropped by the stall watchdog (transient).
var errStalled = &stalledError{}

type stalledError struct{}

func (*stalledError) Error() string   { return "the server stopped sending (no byte for 60 s)" }
func (*stalledError) Timeout() bool   { return true }
func (*stalledError) Temporary() bool { return true }

// partSuffix marks a file being downloaded; it is renamed to its name
// once its BLAKE3 matches the server's.
const partSuffix = ".haulpart"

// segmentSize is the range one connection fetches at a time, and the
// unit of resume: a segment is fetched again whole when interrupted.
var segmentSize int64 = 16 << 20

// dlJob is a set of files to download from one package into one folder.
type dlJob struct {
	c        *client.Client
	hc       *http.Client
	token    string
	pkgID    string
	root     *os.Root // the destination folder: no path leaves it
	rootPath string
	files    []client.File
	rels     []string
	conns    int
	lim      *limiter
	rep      reporter
	hook     func(path string)

	tr        *tracker
	fetched   atomic.Int64
	refetched atomic.Int32
}

// safeRel is a server-given file's path in the destination, refused
// when it could leave it (.., absolute, backslashes, NUL) or is empty.
func safeRel(f client.File) (string, error) {
	var parts []string
	if f.Path != "" {
		parts = strings.Split(f.Path, "/")
	}
	parts = append(parts, f.Name)
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\\\x00") || strings.HasSuffix(p, partSuffix) {
			return "", &Failure{Code: ExitLocal, Msg: fmt.Sprintf("the server sent an unsafe file path %q: refused (nothing was written outside the destination)", path.Join(f.Path, f.Name))}
		}
	}
	return strings.Join(parts, "/"), nil
}

// folderName makes a package name a safe folder name.
func folderName(name, fallback string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), " .")
	if s == "" {
		if fallback == "" {
			return "package"
		}
		return folderName(fallback, "") // the fallback comes from the server too
	}
	return s
}

// inside says whether path is dir or below it.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// parseLink splits a link URL (https://host/<link id>?secret=S) into the
// server, the link id and its secret.
func parseLink(raw string) (base, id, secret string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", usageErr("%q is not a link URL (https://server/LINK_ID?secret=…)", raw)
	}
	id = path.Base(u.Path)
	secret = u.Query().Get("secret")
	if id == "" || id == "/" || id == "." || secret == "" {
		return "", "", "", usageErr("%q is not a link URL: it needs the link id and ?secret=", raw)
	}
	return u.Scheme + "://" + u.Host, id, secret, nil
}

func (a *App) download(ctx context.Context, args []string) error {
	fs := a.flags("download")
	dest := fs.String("dest", ".", "the folder to download into")
	password := fs.String("password", "", "the link's password, if it has one")
	conns := fs.Int("connections", 4, "ranges fetched at once")
	var only multi
	fs.Var(&only, "files", "only files whose path or name matches this glob (repeatable)")
	flat := fs.Bool("no-package-folder", false, "put the files straight into --dest (default: a folder named after the package)")
	limitRate := fs.String("limit-rate", "", "a rate limit for this download, e.g. 50M (default: haul limits)")
	ca := fs.String("ca", "", "also trust this CA certificate (PEM)")
	jsonOut := fs.Bool("json", false, "print JSON events, one a line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("haul download takes one link URL")
	}
	if *conns < 1 || *conns > 64 {
		return usageErr("--connections must be between 1 and 64")
	}
	base, linkID, secret, err := parseLink(pos[0])
	if err != nil {
		return err
	}
	if *ca == "" {
		cr, _ := a.credentials()
		*ca = cr.CA
	}
	hc, err := httpClient(*ca)
	if err != nil {
		return err
	}
	c := client.New(base)
	c.HTTP = hc
	lim, err := a.limiterFor(*limitRate, false)
	if err != nil {
		return err
	}
	destAbs, err := filepath.Abs(*dest)
	if err != nil {
		return err
	}
	cwd, _ := os.Getwd()
	id := transferID("download", base, linkID, destAbs, strings.Join(only, "\x00"))
	t := &Transfer{ID: id, Kind: "download", Args: append([]string{"download"}, args...), Dir: cwd, Server: base}
	tr, resumed, err := a.begin(t)
	if err != nil {
		return err
	}
	rep := a.newReporter(*jsonOut, "downloading")
	if resumed {
		rep.note("resuming transfer %s", tr.t.ID)
	}
	var job *dlJob
	err = tr.supervise(ctx, func(ctx context.Context) error {
		for attempt := 0; ; attempt++ {
			// Open the link once: a resumed run reuses the token (each
			// open counts as a download in the sender's history).
			reopened := tr.t.PackageToken == ""
			if reopened {
				opened, err := c.OpenLink(ctx, linkID, secret, *password)
				if err != nil {
					return linkError(err, *password != "")
				}
				folder := destAbs
				if !*flat {
					folder = filepath.Join(destAbs, folderName(opened.Name, opened.PackageID))
				}
				if !inside(destAbs, folder) {
					return &Failure{Code: ExitLocal, Msg: fmt.Sprintf("the server named the package %q: refused (it would leave %s)", opened.Name, destAbs)}
				}
				if err := tr.update(true, func(t *Transfer) {
					t.PackageID, t.PackageToken, t.Name, t.Dest = opened.PackageID, opened.PackageToken, opened.Name, folder
				}); err != nil {
					return err
				}
			}
			var err error
			job, err = a.newDLJob(ctx, c, tr.t.PackageToken, tr.t.PackageID, tr.t.Dest, only, *conns, lim, rep)
			if s := client.StatusOf(err); (s == http.StatusUnauthorized || s == http.StatusForbidden) && !reopened && attempt == 0 {
				// The saved token expired: open the link again.
				tr.update(true, func(t *Transfer) { t.PackageToken = "" })
				continue
			}
			if err != nil {
				return err
			}
			defer job.root.Close()
			if err := job.run(ctx, tr); err != nil {
				return err
			}
			if len(only) == 0 {
				if err := c.CompleteDownload(ctx, tr.t.PackageToken, tr.t.PackageID); err != nil && client.StatusOf(err) != http.StatusConflict {
					rep.note("could not report the finished download to the server: %v", err)
				}
			}
			return nil
		}
	})
	tr.end(err)
	if err != nil {
		return err
	}
	rep.finish(map[string]any{"package_id": tr.t.PackageID, "dest": tr.t.Dest, "files": len(job.files), "bytes_fetched": job.fetched.Load(), "refetched": job.refetched.Load()})
	fmt.Fprintf(a.Stdout, "Downloaded %d file(s) into %s; every file's BLAKE3 matches the server's.\n", len(job.files), tr.t.Dest)
	return nil
}

// linkError says what to do about a link that did not open.
func linkError(err error, hadPassword bool) error {
	switch client.StatusOf(err) {
	case http.StatusUnauthorized, http.StatusForbidden:
		if !strings.Contains(strings.ToLower(classify(err).Msg), "password") {
			return &Failure{Code: ExitAuth, Err: err, Msg: "the link did not open: " + classify(err).Msg}
		}
		if !hadPassword {
			return &Failure{Code: ExitAuth, Err: err, Msg: "the link did not open: " + classify(err).Msg + " (if it has a password, add --password)"}
		}
		return &Failure{Code: ExitAuth, Err: err, Msg: "the link did not open: " + classify(err).Msg + " (check the password)"}
	case http.StatusNotFound, http.StatusGone:
		return &Failure{Code: ExitGone, Err: err, Msg: "the link has expired, was disabled, or does not exist: " + classify(err).Msg + " (ask the sender for a new one)"}
	}
	return err
}

// newDLJob lists the package's files (those matching only, if any) and
// opens the destination folder.
func (a *App) newDLJob(ctx context.Context, c *client.Client, token, pkgID, folder string, only []string, conns int, lim *limiter, rep reporter) (*dlJob, error) {
	all, err := c.Files(ctx, token, pkgID)
	if err != nil {
		return nil, err
	}
	job := &dlJob{c: c, hc: c.HTTP, token: token, pkgID: pkgID, conns: conns, lim: lim, rep: rep, hook: a.BeforeVerify, rootPath: folder}
	for _, f := range all {
		if f.Kind != "file" {
			continue
		}
		rel, err := safeRel(f)
		if err != nil {
			return nil, err
		}
		if len(only) > 0 && !matchAny(only, rel, f.Name, f.ID) {
			continue
		}
		job.files = append(job.files, f)
		job.rels = append(job.rels, rel)
	}
	// On a disk that ignores case (macOS, Windows) two such names would
	// be one file.
	seen := map[string]string{}
	for _, rel := range job.rels {
		if prev, ok := seen[strings.ToLower(rel)]; ok {
			return nil, &Failure{Code: ExitLocal, Msg: fmt.Sprintf("the package holds %q and %q, which differ only in case: download them with --files into separate folders", prev, rel)}
		}
		seen[strings.ToLower(rel)] = rel
	}
	if len(only) > 0 && len(job.files) == 0 {
		return nil, usageErr("no file of the package matches --files %s", strings.Join(only, ", "))
	}
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return nil, fail(ExitLocal, err, "%v", err)
	}
	if job.root, err = os.OpenRoot(folder); err != nil {
		return nil, fail(ExitLocal, err, "%v", err)
	}
	return job, nil
}

func matchAny(globs []string, rel, name, id string) bool {
	for _, g := range globs {
		if g == id || g == rel {
			return true
		}
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// dlFile is one file's download in progress.
type dlFile struct {
	i     int
	st    *FileState
	f     *os.File
	left  int // segments not yet written
	tries int // verification failures

	mu  sync.Mutex
	url string // the file's signed URL, shared by its segments until it expires

	fmu sync.Mutex // guards f

	have    int64     // bytes written before this run
	started sync.Once // its progress bar appears with its first segment
}

// signedURL returns the file's download URL, asking for one when there is
// none (or stale, the one that just failed with 403).
func (job *dlJob) signedURL(ctx context.Context, d *dlFile, stale string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.url != "" && d.url != stale {
		return d.url, nil
	}
	u, err := job.c.DownloadURL(ctx, job.token, job.pkgID, job.files[d.i].ID)
	if err != nil {
		return "", err
	}
	d.url = u
	return u, nil
}

// run downloads every file not complete: missing segments in parallel
// (conns at once), each file verified against its BLAKE3 once whole and
// fetched again once if it does not match, then renamed into place.
func (job *dlJob) run(ctx context.Context, tr *tracker) error {
	job.tr = tr
	var total, already int64
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	type task struct {
		d   *dlFile
		seg int
	}
	var queue []task
	inflight := 0
	var firstErr error
	files := make([]*dlFile, len(job.files))
	for i, f := range job.files {
		total += f.Size
		st, err := job.prepare(tr, i)
		if err != nil {
			return err
		}
		d := &dlFile{i: i, st: st}
		files[i] = d
		if st.Complete {
			already += f.Size
			continue
		}
		var have int64
		for s, done := range st.Segments {
			if done {
				have += segLen(f.Size, s)
			} else {
				queue = append(queue, task{d, s})
				d.left++
			}
		}
		already += have
		d.have = have
	}
	tr.update(false, func(t *Transfer) { t.Total, t.Done = total, already })
	job.rep.begin(total, len(job.files))
	if already > 0 {
		job.rep.add("", already)
	}
	// Files with nothing left to fetch (empty, or every segment written
	// before a crash) are verified now.
	for _, d := range files {
		if !d.st.Complete && d.left == 0 {
			again, err := job.finish(tr, d)
			if err != nil {
				return err
			}
			for _, s := range again {
				queue = append(queue, task{d, s})
				d.left++
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range job.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				for len(queue) == 0 && inflight > 0 && firstErr == nil {
					cond.Wait()
				}
				if len(queue) == 0 || firstErr != nil {
					mu.Unlock()
					cond.Broadcast()
					return
				}
				tk := queue[0]
				queue = queue[1:]
				inflight++
				mu.Unlock()

				err := job.fetchSegment(ctx, tk.d, tk.seg)
				var again []int
				if err == nil {
					// Saved at once: a kill loses at most the segments in flight.
					tr.update(true, func(*Transfer) { tk.d.st.Segments[tk.seg] = true })
					mu.Lock()
					tk.d.left--
					last := tk.d.left == 0
					mu.Unlock()
					if last {
						again, err = job.finish(tr, tk.d)
					}
				}
				mu.Lock()
				inflight--
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				for _, s := range again {
					queue = append(queue, task{tk.d, s})
					tk.d.left++
				}
				mu.Unlock()
				cond.Broadcast()
			}
		}()
	}
	wg.Wait()
	for _, d := range files {
		if d.f != nil {
			d.f.Close()
		}
	}
	tr.save(true)
	return firstErr
}

func segCount(size int64) int { return int((size + segmentSize - 1) / segmentSize) }

func segLen(size int64, s int) int64 {
	return min(segmentSize, size-int64(s)*segmentSize)
}

// prepare finds file i's state: complete (the file is there), partial
// (the .haulpart file holds the written segments) or new.
func (job *dlJob) prepare(tr *tracker, i int) (*FileState, error) {
	f, rel := job.files[i], job.rels[i]
	tr.mu.Lock()
	st := tr.t.Files[rel]
	tr.mu.Unlock()
	fresh := func() *FileState {
		return &FileState{Size: f.Size, Segments: make([]bool, segCount(f.Size)), Digest: f.Digest}
	}
	switch {
	case st != nil && st.Complete && st.Digest == f.Digest:
		if info, err := job.root.Stat(rel); err == nil && info.Size() == f.Size {
			return st, nil
		}
		st = fresh()
	case st != nil && st.Size == f.Size && st.Digest == f.Digest && len(st.Segments) == segCount(f.Size):
		// Written segments count only if the partial file is still there.
		if info, err := job.root.Stat(rel + partSuffix); err != nil || info.Size() != f.Size {
			st = fresh()
		}
	default:
		st = fresh()
		// A file already in place with the right digest (a run whose state
		// was lost) is not fetched again.
		if info, err := job.root.Stat(rel); err == nil && info.Size() == f.Size && f.Digest != "" {
			if got, err := digestOf(job.root, rel); err == nil && got == f.Digest {
				st.Complete, st.Segments = true, nil
			}
		}
	}
	tr.update(true, func(t *Transfer) { t.Files[rel] = st })
	return st, nil
}

// open opens (once) the partial file of d, sized to the file.
func (job *dlJob) open(d *dlFile) (*os.File, error) {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	if d.f != nil {
		return d.f, nil
	}
	rel := job.rels[d.i]
	if dir := path.Dir(rel); dir != "." {
		if err := job.root.MkdirAll(dir, 0o755); err != nil {
			return nil, fail(ExitLocal, err, "%v", err)
		}
	}
	f, err := job.root.OpenFile(rel+partSuffix, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fail(ExitLocal, err, "%v", err)
	}
	if info, err := f.Stat(); err == nil && info.Size() != job.files[d.i].Size {
		if err := f.Truncate(job.files[d.i].Size); err != nil {
			f.Close()
			return nil, err
		}
	}
	d.f = f
	return f, nil
}

// fetchSegment writes one segment, retried with backoff on network
// errors and 5xx (a new URL when the old one expired).
func (job *dlJob) fetchSegment(ctx context.Context, d *dlFile, seg int) error {
	f := job.files[d.i]
	rel := job.rels[d.i]
	// A bar per file being fetched, not per file of the package (a
	// package may hold thousands).
	d.started.Do(func() { job.rep.fileStart(rel, f.Size, d.have) })
	out, err := job.open(d)
	if err != nil {
		return err
	}
	off := int64(seg) * segmentSize
	end := off + segLen(f.Size, seg)
	wait := 500 * time.Millisecond
	stale := ""
	for attempt := 0; ; attempt++ {
		u, err := job.signedURL(ctx, d, stale)
		if err != nil {
			return err
		}
		n, err := job.getRange(ctx, u, off, end, out, rel)
		if err == nil {
			job.fetched.Add(n)
			return nil
		}
		job.rep.add(rel, -n)
		var he *client.Error
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case errors.As(err, &he) && he.Status == http.StatusForbidden:
			stale = u // the URL expired: ask for another
		case !transient(err):
			return err
		}
		if attempt >= 10 {
			return fail(ExitNetwork, err, "downloading %s stopped: %v (run the same command again to resume)", rel, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// getRange GETs bytes [off, end) of u into out at off.
func (job *dlJob) getRange(ctx context.Context, u string, off, end int64, out *os.File, rel string) (int64, error) {
	// A server that stops sending (alive, but stalled) is dropped after
	// stallTimeout without a byte, and the segment tried again.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, err
	}
	size := job.files[indexOf(job.rels, rel)].Size
	whole := off == 0 && end == size
	if !whole {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(end-1, 10))
	}
	res, err := job.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusPartialContent && !whole:
	case res.StatusCode == http.StatusOK && whole:
	case res.StatusCode == http.StatusOK:
		return 0, errors.New("the server ignored a range request")
	default:
		return 0, httpError(res)
	}
	buf := make([]byte, 256<<10)
	var n int64
	for pos := off; pos < end; {
		want := int(min(int64(len(buf)), end-pos))
		if err := job.lim.wait(ctx, want); err != nil {
			return n, err
		}
		k, err := io.ReadFull(res.Body, buf[:want])
		watchdog.Reset(stallTimeout)
		if context.Cause(ctx) == errStalled {
			return n, errStalled
		}
		if k > 0 {
			if _, werr := out.WriteAt(buf[:k], pos); werr != nil {
				return n, fail(ExitLocal, werr, "writing %s: %v", rel, werr)
			}
			pos += int64(k)
			n += int64(k)
			job.rep.add(rel, int64(k))
			if job.tr != nil {
				job.tr.update(false, func(t *Transfer) { t.Done += int64(k) })
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// finish verifies a whole file against its BLAKE3: a match is synced and
// renamed into place; a mismatch is fetched again once (the segments to
// queue are returned), then fails.
func (job *dlJob) finish(tr *tracker, d *dlFile) ([]int, error) {
	f, rel := job.files[d.i], job.rels[d.i]
	out, err := job.open(d)
	if err != nil {
		return nil, err
	}
	if job.hook != nil {
		job.hook(filepath.Join(job.rootPath, filepath.FromSlash(rel+partSuffix)))
	}
	if f.Digest != "" {
		h := blake3.New()
		if _, err := io.Copy(h, io.NewSectionReader(out, 0, f.Size)); err != nil {
			return nil, fail(ExitLocal, err, "reading back %s: %v", rel, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.Digest {
			d.tries++
			if d.tries > 1 {
				return nil, &Failure{Code: ExitVerify, Msg: fmt.Sprintf("%s does not match the server's BLAKE3 even fetched again (%s, want %s): the disk at %s may be failing", rel, got, f.Digest, job.rootPath)}
			}
			job.refetched.Add(1)
			job.rep.note("%s failed verification (BLAKE3 %s, want %s): fetching it again", rel, got, f.Digest)
			job.rep.add(rel, -f.Size)
			segs := make([]int, segCount(f.Size))
			tr.update(true, func(*Transfer) {
				for s := range d.st.Segments {
					d.st.Segments[s] = false
					segs[s] = s
				}
			})
			return segs, nil
		}
	}
	if err := out.Sync(); err != nil {
		return nil, fail(ExitLocal, err, "%v", err)
	}
	d.fmu.Lock()
	out.Close()
	d.f = nil
	d.fmu.Unlock()
	if err := job.root.Rename(rel+partSuffix, rel); err != nil {
		return nil, fail(ExitLocal, err, "%v", err)
	}
	if !f.LastModified.IsZero() {
		job.root.Chtimes(rel, time.Now(), f.LastModified)
	}
	tr.update(true, func(*Transfer) { d.st.Complete, d.st.Segments = true, nil })
	job.rep.fileDone(rel, f.Digest)
	return nil, nil
}

// digestOf is the BLAKE3 of a file under root.
func digestOf(root *os.Root, rel string) (string, error) {
	f, err := root.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyLocal checks a local file against the server's digest.
func verifyLocal(abs, digest string) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return &Failure{Code: ExitVerify, Msg: fmt.Sprintf("%s: the server stored BLAKE3 %s, the file here is %s (it changed while being sent?)", abs, digest, got)}
	}
	return nil
}

// transient says whether a failed request may work if sent again.
func transient(err error) bool {
	if f := classify(err); f.Code == ExitNetwork && strings.Contains(f.Msg, "certificate") {
		return false // trusting a certificate takes a person
	}
	var he *client.Error
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset")
}

// httpError reads an error answer (haul's JSON, or S3's XML) as a
// client.Error.
func httpError(res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	e := &client.Error{Status: res.StatusCode, Msg: res.Status}
	var j struct {
		Errors []struct {
			Code string `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	switch {
	case json.Unmarshal(b, &j) == nil && len(j.Errors) > 0:
		e.Code, e.Msg = j.Errors[0].Code, j.Errors[0].Msg
	case xml.Unmarshal(b, &x) == nil && x.Message != "":
		e.Code, e.Msg = x.Code, x.Message
	}
	return e
}
