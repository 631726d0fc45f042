package core

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"haul/core/zipper"
)

// ZipID is the file id of a package's zip archive in file lists and
// download URLs; ZipKind is its kind (MASV's Windows/Linux zip).
const (
	ZipID   = "zip"
	ZipKind = "zip_windows"
)

// DownloadPath is the data-plane path of a file's (or the zip's) bytes;
// download URLs are signed on it.
func DownloadPath(packageID, fileID string) string { return "/dl/" + packageID + "/" + fileID }

// activityParam names the download (activity) a download URL serves.
const activityParam = "a"

// ZipInfo describes a package's zip archive in its file list.
type ZipInfo struct {
	Name     string
	Size     int64
	Modified time.Time
}

// DownloadListing is a package's file list for downloaders.
type DownloadListing struct {
	Files []*File
	// Zip is the whole package as one archive; nil until the package is
	// finalized.
	Zip *ZipInfo
}

// DownloadFiles lists a package's files for a package token of either
// level, with the zip entry once the package is finalized.
func (s *Service) DownloadFiles(ctx context.Context, auth PackageAuth, packageID string) (*DownloadListing, error) {
	const op = "file.list"
	var pk *Package
	err := s.store.View(ctx, func(tx Tx) error {
		var (
			c   *Claims
			err error
		)
		if pk, c, err = s.packageFor(tx, op, auth, packageID, needRead); err != nil {
			return err
		}
		if c.Lvl == "p" && pk.State != PackageNew {
			return E(op, Forbidden, "a portal sender's token lists the package only while uploading; the studio sends downloads as links")
		}
		if c.Lvl != "d" {
			return nil
		}
		l, err := tx.Link(c.Lid)
		if err != nil {
			return err
		}
		return s.linkUsable(op, l, pk) // a disabled link's tokens list nothing more
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	files, err := s.Files(ctx, auth, packageID)
	if err != nil {
		return nil, err
	}
	out := &DownloadListing{Files: files}
	if pk.State == PackageFinalized {
		z, err := s.zipOf(ctx, pk, false)
		if err != nil {
			return nil, Wrap(op, err)
		}
		out.Zip = &ZipInfo{Name: zipName(pk), Size: z.archive.Size(), Modified: pk.FinalizedAt}
	}
	return out, nil
}

// DownloadURL hands out the signed URL of a file's bytes, or of the zip
// (fileID ZipID). A download token's first URL is its one access: it is
// counted against the link's limit then (403 once exhausted), and its
// later URLs, ranges and retries are free. A disabled link's tokens get
// no new URL.
func (s *Service) DownloadURL(ctx context.Context, auth PackageAuth, packageID, fileID string) (*Blueprint, error) {
	const op = "file.download"
	var (
		until      time.Time
		activityID string
	)
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, c, err := s.packageFor(tx, op, auth, packageID, needRead)
		if err != nil {
			return err
		}
		if c.Lvl == "p" {
			return E(op, Forbidden, "a portal sender's token uploads; downloads go out as the studio's links")
		}
		if err := s.checkLinkable(op, pk); err != nil {
			return err
		}
		until, activityID = pk.Expiry, ""
		if fileID == ZipID {
			if pk.State != PackageFinalized {
				return E(op, Conflict, "the zip of a package exists once it is finalized")
			}
		} else {
			f, err := fileFor(tx, op, pk, fileID)
			if err != nil {
				return err
			}
			if f.State != FileFinalized {
				return E(op, Conflict, "file %s is still being uploaded", fullName(f))
			}
		}
		if c.Lvl != "d" {
			return nil // the package's own (full) token: not a counted download
		}
		l, err := tx.Link(c.Lid)
		if err != nil {
			return err
		}
		if err := s.linkUsable(op, l, pk); err != nil {
			return err
		}
		until, activityID = l.EffectiveExpiry(pk), c.Jti
		act, err := tx.Activity(c.Jti)
		if err != nil {
			return err
		}
		if act.Counted {
			return nil
		}
		if l.AccessLimit > 0 && l.Accesses >= l.AccessLimit {
			return E(op, Forbidden, "this link's download limit is reached (%d of %d downloads): ask the sender for a new link", l.Accesses, l.AccessLimit)
		}
		l.Accesses++
		l.UpdatedAt = s.now()
		if err := tx.PutLink(l); err != nil {
			return err
		}
		act.Counted = true
		s.transition(act, StateStarted)
		if err := tx.PutActivity(act); err != nil {
			return err
		}
		if err := s.fireWebhooks(tx, HookPackageDownloaded, pk, l); err != nil {
			return err
		}
		return s.firstDownloadMail(tx, pk, l.Email)
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.wakeOutbox()
	now := s.now()
	exp := now.Add(s.uploads.URLLifetime)
	if until.Before(exp) {
		exp = until
	}
	q := url.Values{}
	if activityID != "" {
		q.Set(activityParam, activityID)
	}
	p := DownloadPath(packageID, fileID)
	return &Blueprint{URL: s.publicURL + p + "?" + s.keys.SignURL("GET", p, q, exp, now), Method: "GET", Headers: map[string]string{}}, nil
}

// DownloadRequest is a request on a download URL.
type DownloadRequest struct {
	Path      string // as requested, e.g. /dl/<package id>/<file id>
	Query     url.Values
	PackageID string
	FileID    string
	ClientIP  string
}

// Download is one file's (or the zip's) bytes ready to be served.
type Download struct {
	Name     string // the file's name (not its folder), or the zip's
	Size     int64
	ETag     string // quoted; from the digest, so equal bytes give equal tags
	Modified time.Time
	IsZip    bool

	s          *Service
	tk         TeamKey
	pk         *Package
	file       *File
	zip        *zipCache
	activityID string
	clientIP   string
}

// OpenDownload checks a download URL's signature (403 when altered or
// expired) and that its package can still be downloaded (410 when expired
// or deleted), and returns what it serves.
func (s *Service) OpenDownload(ctx context.Context, req DownloadRequest) (*Download, error) {
	const op = "file.get"
	if err := s.keys.VerifyURL("GET", req.Path, req.Query, s.now()); err != nil {
		return nil, err
	}
	d := &Download{s: s, activityID: req.Query.Get(activityParam), clientIP: req.ClientIP}
	err := s.store.View(ctx, func(tx Tx) error {
		pk, err := tx.Package(req.PackageID)
		if err != nil {
			return err
		}
		if err := s.checkLinkable(op, pk); err != nil {
			return err
		}
		if d.tk, err = teamKey(tx, pk); err != nil {
			return err
		}
		d.pk = pk
		if req.FileID == ZipID {
			return nil
		}
		f, err := fileFor(tx, op, pk, req.FileID)
		if err != nil {
			return err
		}
		if f.State != FileFinalized {
			return E(op, Conflict, "file %s is still being uploaded", fullName(f))
		}
		d.file = f
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	if d.file != nil {
		f := d.file
		d.Name, d.Size, d.ETag, d.Modified = f.Name, f.Size, `"`+f.Digest.String()+`"`, f.LastModified
		if d.Modified.IsZero() {
			d.Modified = f.FinalizedAt
		}
		return d, nil
	}
	if d.pk.State != PackageFinalized {
		return nil, E(op, Conflict, "the zip of a package exists once it is finalized")
	}
	z, err := s.zipOf(ctx, d.pk, true)
	if err != nil {
		return nil, Wrap(op, err)
	}
	d.zip, d.IsZip = z, true
	d.Name, d.Size, d.Modified = zipName(d.pk), z.archive.Size(), d.pk.FinalizedAt
	// The layout's version is in the tag: a resume across an upgrade that
	// changed names or order must not splice two layouts (If-Range).
	d.ETag = fmt.Sprintf(`"zip%d-%s-%d"`, zipLayoutVersion, d.pk.ID, z.archive.Size())
	return d, nil
}

// WriteRange writes bytes [off, off+n) of the download to w, streaming:
// a file's blocks are looked up one part at a time.
func (d *Download) WriteRange(ctx context.Context, w io.Writer, off, n int64) error {
	if off < 0 || n < 0 || off+n > d.Size {
		return E("file.get", BadRange, "range %d+%d is outside the %d bytes", off, n, d.Size)
	}
	if d.file != nil {
		return d.s.readFile(ctx, d.tk, d.file, off, n, w)
	}
	return d.zip.archive.WriteRange(ctx, w, off, n, func(ctx context.Context, i int, off, n int64, w io.Writer) error {
		return d.s.readFile(ctx, d.tk, d.zip.files[i], off, n, w)
	})
}

// Finish records what a request of the download sent (a download record,
// and the bytes served on the download's activity). Downloads by the
// package's own token are not recorded.
func (d *Download) Finish(ctx context.Context, off, n, sent int64, started time.Time) {
	if d.activityID == "" {
		return
	}
	fid, name := ZipID, d.Name
	if d.file != nil {
		fid, name = d.file.ID, fullName(d.file)
	}
	now := d.s.now()
	rec := &DownloadRecord{ID: NewID(), ActivityID: d.activityID, TeamID: d.pk.TeamID, PackageID: d.pk.ID, FileID: fid,
		Name: name, Offset: off, Length: n, Bytes: sent, Complete: sent == n, ClientIP: d.clientIP,
		StartedAt: started.UTC(), EndedAt: now}
	err := d.s.store.Update(ctx, func(tx Tx) error { return tx.AddDownloadRecord(rec) })
	if err != nil {
		d.s.log.WarnContext(ctx, "recording a download", "package_id", d.pk.ID, "file_id", fid, "err", err)
	}
}

// CompleteDownload records that a client finished a download (a download
// token's): it completes once every file, or the zip, was served whole;
// otherwise it answers 409 naming what is missing. The link's activity
// completes with it.
func (s *Service) CompleteDownload(ctx context.Context, auth PackageAuth, packageID string) error {
	const op = "download.complete"
	var (
		pk *Package
		c  *Claims
	)
	// The token first: nothing is laid out for a caller without one.
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		pk, c, err = s.packageFor(tx, op, auth, packageID, needRead)
		return err
	})
	if err != nil {
		return Wrap(op, err)
	}
	if c.Lvl != "d" || c.Jti == "" {
		return E(op, Forbidden, "only a download token (from GET /v1/links/{id}) reports a finished download")
	}
	var zipSize int64 = -1
	if pk.State == PackageFinalized {
		z, err := s.zipOf(ctx, pk, false)
		if err != nil {
			return Wrap(op, err)
		}
		zipSize = z.archive.Size()
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		act, err := tx.Activity(c.Jti)
		if err != nil {
			return err
		}
		if act.State == StateComplete {
			return nil
		}
		recs, err := tx.DownloadRecords(act.ID)
		if err != nil {
			return err
		}
		served := servedSpans(recs)
		if zipSize < 0 || !servedWhole(served[ZipID], zipSize) {
			files, err := tx.PackageFiles(pk.ID)
			if err != nil {
				return err
			}
			var missing []string
			for _, f := range files {
				if f.State == FileFinalized && !servedWhole(served[f.ID], f.Size) {
					missing = append(missing, fullName(f))
				}
			}
			if len(missing) > 0 {
				shown := missing[:min(len(missing), 10)]
				return E(op, Conflict, "%d file(s) were not downloaded whole yet: %s", len(missing), strings.Join(shown, ", "))
			}
		}
		if err := s.moveActivity(tx, act.ID, StateComplete); err != nil {
			return err
		}
		l, err := tx.Link(c.Lid)
		if err != nil {
			return err
		}
		return s.moveActivity(tx, l.ActivityID, StateComplete)
	})
	return Wrap(op, err)
}

// readFile writes bytes [off, off+n) of a finalized file to w, loading the
// block list of one part at a time (a part covers chunk_size bytes), so a
// download of a file of any size holds one part's blocks in memory.
func (s *Service) readFile(ctx context.Context, tk TeamKey, f *File, off, n int64, w io.Writer) error {
	const op = "file.read"
	if f.PartsID == "" {
		return s.chunks.ReadRange(ctx, tk, f.Blocks, off, n, w)
	}
	for n > 0 {
		num := int(off/f.ChunkSize) + 1
		var pt *Part
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			pt, err = tx.Part(f.PartsID, num)
			return err
		})
		if Is(err, NotFound) {
			return E(op, Gone, "the data of %s is no longer stored: the package was deleted or expired", fullName(f))
		}
		if err != nil {
			return Wrap(op, err)
		}
		end := int64(num-1)*f.ChunkSize + pt.Size
		m := min(n, end-off)
		if m <= 0 {
			return E(op, Corrupt, "part %d of %s does not cover offset %d: run haul fsck", num, fullName(f), off)
		}
		if err := s.chunks.ReadRange(ctx, tk, pt.Blocks, off, m, w); err != nil {
			return err
		}
		off, n = off+m, n-m
	}
	return nil
}

// fileCRC returns the IEEE CRC-32 of a file from its blocks' own CRCs, or,
// when a block has none (stored before haul recorded them), by reading the
// file back.
func (s *Service) fileCRC(ctx context.Context, tk TeamKey, blocks []Block) (uint32, error) {
	var crc uint32
	for _, b := range blocks {
		if b.CRC == nil {
			h := crc32.NewIEEE()
			var size int64
			if len(blocks) > 0 {
				size = blocks[len(blocks)-1].Off + blocks[len(blocks)-1].Len
			}
			if err := s.chunks.ReadRange(ctx, tk, blocks, 0, size, h); err != nil {
				return 0, err
			}
			return h.Sum32(), nil
		}
		crc = zipper.CombineCRC32(crc, *b.CRC, b.Len)
	}
	return crc, nil
}

// zipLayoutVersion names how zipOf orders and names entries; change it
// with either.
const zipLayoutVersion = 1

// zipCache is a finalized package's zip layout: files are immutable once
// the package is finalized, so it is computed once and kept (a few).
type zipCache struct {
	archive *zipper.Archive
	files   []*File // by entry index
}

// zipCacheFiles bounds the files of the zip layouts kept (each holds its
// file records): a package with more is laid out for each request.
const zipCacheFiles = 200_000

type zipCaches struct {
	mu    sync.Mutex
	m     map[string]*zipCache
	files int // files held by the layouts in m
}

// zipOf returns the zip layout of a finalized package. Files without a
// CRC-32 (finalized before haul recorded block CRCs) are read to get one
// when needCRC (serving the archive) and the result saved; a listing only
// needs sizes.
func (s *Service) zipOf(ctx context.Context, pk *Package, needCRC bool) (*zipCache, error) {
	s.zips.mu.Lock()
	z := s.zips.m[pk.ID]
	s.zips.mu.Unlock()
	if z != nil {
		return z, nil
	}
	var (
		files []*File
		tk    TeamKey
	)
	err := s.store.View(ctx, func(tx Tx) error {
		all, err := tx.PackageFiles(pk.ID)
		for _, f := range all {
			if f.State == FileFinalized {
				files = append(files, f)
			}
		}
		if err != nil {
			return err
		}
		tk, err = teamKey(tx, pk)
		return err
	})
	if err != nil {
		return nil, err
	}
	complete := true
	for _, f := range files {
		if f.HasCRC {
			continue
		}
		if !needCRC {
			complete = false
			continue
		}
		if err := s.fillCRC(ctx, tk, f); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(files, func(a, b *File) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	entries := make([]zipper.Entry, len(files))
	names := zipNames(files)
	for i, f := range files {
		mod := f.LastModified
		if mod.IsZero() {
			mod = f.FinalizedAt
		}
		entries[i] = zipper.Entry{Name: names[i], Size: f.Size, CRC32: f.CRC32, Modified: mod}
	}
	a, err := zipper.New(entries)
	if err != nil {
		return nil, E("zip", Internal, "laying out the zip: %v", err)
	}
	z = &zipCache{archive: a, files: files}
	if complete && len(files) <= zipCacheFiles {
		s.zips.mu.Lock()
		if s.zips.m == nil {
			s.zips.m = map[string]*zipCache{}
		}
		for k, old := range s.zips.m { // any ones: map order is random
			if s.zips.files+len(files) <= zipCacheFiles {
				break
			}
			delete(s.zips.m, k)
			s.zips.files -= len(old.files)
		}
		if _, ok := s.zips.m[pk.ID]; !ok {
			s.zips.m[pk.ID] = z
			s.zips.files += len(files)
		}
		s.zips.mu.Unlock()
	}
	return z, nil
}

// fillCRC computes and saves the CRC-32 of a file finalized without one.
func (s *Service) fillCRC(ctx context.Context, tk TeamKey, f *File) error {
	var blocks []Block
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		blocks, err = fileBlocks(tx, f)
		return err
	}); err != nil {
		return err
	}
	crc, err := s.fileCRC(ctx, tk, blocks)
	if err != nil {
		return err
	}
	f.CRC32, f.HasCRC = crc, true
	return s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.File(f.ID)
		if err != nil {
			return err
		}
		cur.CRC32, cur.HasCRC = crc, true
		return tx.PutFile(cur)
	})
}

// zipNames gives each file its path in the zip: every segment made safe
// for Windows (MASV's zip is the Windows/Linux one), and names that would
// collide (case-insensitively, as on Windows and macOS) numbered " (2)",
// " (3)"... before the extension.
func zipNames(files []*File) []string {
	out := make([]string, len(files))
	dirs := make([]string, len(files))
	taken := make(map[string]bool, len(files))
	// Folders first: a file may not take a folder's name (the archive
	// could not be unpacked), so such a file is numbered instead.
	for i, f := range files {
		var segs []string
		if f.Path != "" {
			for _, p := range strings.Split(f.Path, "/") {
				segs = append(segs, WindowsSafeName(p))
				taken[strings.ToLower(strings.Join(segs, "/"))] = true
			}
		}
		dirs[i] = strings.Join(segs, "/")
	}
	for i, f := range files {
		dir := dirs[i]
		name := WindowsSafeName(f.Name)
		full := path.Join(dir, name)
		ext := path.Ext(name)
		base := strings.TrimSuffix(name, ext)
		for k := 2; taken[strings.ToLower(full)]; k++ {
			full = path.Join(dir, base+" ("+strconv.Itoa(k)+")"+ext)
		}
		taken[strings.ToLower(full)] = true
		out[i] = full
	}
	return out
}

// zipName is the zip's file name: the package's name made safe.
func zipName(pk *Package) string {
	name := strings.TrimSpace(pk.Name)
	if name == "" {
		name = pk.ID
	}
	return WindowsSafeName(name) + ".zip"
}
