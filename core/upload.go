package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PackageSpec is GET /v1/system/packages/spec: the data plane's limits.
type PackageSpec struct {
	MaxChunkCount    int   `json:"max_chunk_count"`
	MaxChunkSize     int64 `json:"max_chunk_size"`
	MinChunkSize     int64 `json:"min_chunk_size"`
	DefaultChunkSize int64 `json:"default_chunk_size"`
	BlockSize        int64 `json:"block_size"`
}

// blockSizer is the optional capability of a chunk store to say its block
// size.
type blockSizer interface{ BlockSize() int64 }

// Spec returns the data plane's limits.
func (s *Service) Spec() PackageSpec {
	u := s.uploads
	sp := PackageSpec{MaxChunkCount: u.MaxChunks, MaxChunkSize: u.MaxChunkSize, MinChunkSize: u.MinChunkSize, DefaultChunkSize: u.DefaultChunkSize}
	if b, ok := s.chunks.(blockSizer); ok {
		sp.BlockSize = b.BlockSize()
	}
	return sp
}

// Blueprint is MASV's pre-signed request: the client replays it exactly.
type Blueprint struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// DataPath is the data-plane path of a file; every signed URL of the file
// is on it.
func DataPath(packageID, fileID string) string { return "/s3/" + packageID + "/" + fileID }

func (s *Service) blueprint(method, path string, q url.Values) Blueprint {
	now := s.now()
	return Blueprint{URL: s.publicURL + path + "?" + s.keys.SignURL(method, path, q, now.Add(s.uploads.URLLifetime), now),
		Method: method, Headers: map[string]string{}}
}

// AddFileRequest is the body of POST /v1/packages/{id}/files.
type AddFileRequest struct {
	Kind         string
	Name         string
	Path         string
	LastModified time.Time
	Size         *int64
	ChunkSize    *int64
}

// AddFileResult is the file and how to start its upload.
type AddFileResult struct {
	File            File
	CreateBlueprint Blueprint
	Spec            PackageSpec
}

// partsFor is how many parts a file of size bytes takes at chunk bytes
// per part; an empty file still takes one (empty) part.
func partsFor(size, chunk int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + chunk - 1) / chunk
}

// AddFile adds a file to a package being uploaded (package token, full).
func (s *Service) AddFile(ctx context.Context, auth PackageAuth, packageID string, req AddFileRequest) (*AddFileResult, error) {
	const op = "file.add"
	u := s.uploads
	if req.Kind != "" && req.Kind != "file" {
		return nil, Invalidf(op, "kind", "kind %q is not supported: use \"file\"", req.Kind)
	}
	name, err := CheckFileName(op, "name", req.Name)
	if err != nil {
		return nil, err
	}
	dir, err := CheckFilePath(op, "path", req.Path)
	if err != nil {
		return nil, err
	}
	if len(dir)+1+len(name) > MaxFilePathBytes {
		return nil, Invalidf(op, "path", "path and name together are %d bytes long; the maximum is %d", len(dir)+1+len(name), MaxFilePathBytes)
	}
	chunk := u.DefaultChunkSize
	if req.ChunkSize != nil && *req.ChunkSize != 0 {
		chunk = *req.ChunkSize
	}
	if chunk < u.MinChunkSize || chunk > u.MaxChunkSize {
		return nil, Invalidf(op, "chunk_size", "chunk_size %d is out of range: it must be from min_chunk_size %d to max_chunk_size %d bytes", chunk, u.MinChunkSize, u.MaxChunkSize)
	}
	size := int64(-1)
	if req.Size != nil {
		if size = *req.Size; size < 0 {
			return nil, Invalidf(op, "size", "size must not be negative")
		}
		if n := partsFor(size, chunk); n > int64(u.MaxChunks) {
			need := (size + int64(u.MaxChunks) - 1) / int64(u.MaxChunks)
			need = max((need+(1<<20)-1)&^((1<<20)-1), u.MinChunkSize) // a whole number of MiB
			if need > u.MaxChunkSize {
				return nil, Invalidf(op, "size", "size %d is too large: even at max_chunk_size it needs more than max_chunk_count (%d) parts", size, u.MaxChunks)
			}
			return nil, Invalidf(op, "chunk_size", "a file of %d bytes needs %d parts of chunk_size %d, more than max_chunk_count (%d): use a chunk_size of at least %d bytes", size, n, chunk, u.MaxChunks, need)
		}
	}
	var out AddFileResult
	fileID := NewID()
	err = s.store.Update(ctx, func(tx Tx) error {
		pk, err := s.openPackage(tx, op, auth, packageID)
		if err != nil {
			return err
		}
		team, err := tx.Team(pk.TeamID)
		if err != nil {
			return err
		}
		if pk.PortalID != "" { // received through a portal: its rules
			pt, err := tx.Portal(pk.PortalID)
			if err != nil && !Is(err, NotFound) { // a deleted portal's rules went with it
				return err
			}
			if err == nil {
				files, err := tx.PackageFiles(pk.ID)
				if err != nil {
					return err
				}
				if err := s.checkPortalFile(op, pt, files, name, size); err != nil {
					return err
				}
			}
		}
		f := &File{ID: fileID, PackageID: pk.ID, TeamID: pk.TeamID, Kind: "file", Name: name, Path: dir,
			LastModified: req.LastModified, Size: size, ChunkSize: chunk, State: FileNew, CreatedAt: s.now()}
		// The declared size is reserved before any byte moves: of two
		// uploads that fit alone but not together, the second is refused
		// here (NoSpace, 507).
		if err := s.reserve(ctx, tx, op, team, f); err != nil {
			return err
		}
		if err := tx.PutFile(f); err != nil {
			return err
		}
		out.File = *f
		return s.moveActivity(tx, pk.ActivityID, StateStarted) // the first file starts the upload
	})
	if err != nil {
		s.release(fileID)
		return nil, Wrap(op, err)
	}
	out.CreateBlueprint = s.blueprint("POST", DataPath(packageID, out.File.ID), url.Values{"uploads": {""}})
	out.Spec = s.Spec()
	return &out, nil
}

// fileFor loads a file of the package; a file being deleted is gone.
func fileFor(tx Tx, op string, pk *Package, fileID string) (*File, error) {
	f, err := tx.File(fileID)
	if Is(err, NotFound) || (err == nil && (f.PackageID != pk.ID || f.State == FileDeleting)) {
		return nil, &Error{Op: op, Kind: NotFound, Code: "NoSuchKey", Msg: fmt.Sprintf("file %s not found in package %s", fileID, pk.ID)}
	}
	return f, err
}

func noSuchUpload(op, uploadID string) error {
	return &Error{Op: op, Kind: NotFound, Code: "NoSuchUpload",
		Msg: fmt.Sprintf("upload %q does not exist: it was aborted or completed, or the upload id is wrong", uploadID)}
}

// uploadOf checks that f is being uploaded under uploadID.
func uploadOf(op string, f *File, uploadID string) error {
	if f.State == FileFinalized {
		return &Error{Op: op, Kind: Conflict, Code: "NoSuchUpload", Msg: fmt.Sprintf("file %s is already finalized", f.ID)}
	}
	if uploadID == "" || f.UploadID != uploadID {
		return noSuchUpload(op, uploadID)
	}
	if f.Abandoned {
		return &Error{Op: op, Kind: NotFound, Code: "NoSuchUpload",
			Msg: fmt.Sprintf("upload %q was abandoned (no part for too long) and its parts deleted: start a new upload of the file", uploadID)}
	}
	return nil
}

// PartURLs returns the part blueprints start+1 .. start+count of a file's
// upload (MASV's POST /v1/packages/{pid}/files/{fid}?start=&count=). A
// request past the last part of a file of declared size is shortened.
func (s *Service) PartURLs(ctx context.Context, auth PackageAuth, packageID, fileID, uploadID string, start, count int) ([]Blueprint, error) {
	const op = "file.part_urls"
	u := s.uploads
	if start < 0 || start >= u.MaxChunks {
		return nil, Invalidf(op, "start", "start must be from 0 to %d (a zero-based part index)", u.MaxChunks-1)
	}
	if count < 1 || count > u.MaxChunks {
		return nil, Invalidf(op, "count", "count must be from 1 to %d", u.MaxChunks)
	}
	var f *File
	err := s.store.View(ctx, func(tx Tx) error {
		pk, err := s.openPackage(tx, op, auth, packageID)
		if err != nil {
			return err
		}
		if f, err = fileFor(tx, op, pk, fileID); err != nil {
			return err
		}
		return uploadOf(op, f, uploadID)
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	last := int64(u.MaxChunks)
	if f.Size >= 0 {
		last = partsFor(f.Size, f.ChunkSize)
	}
	if int64(start) >= last {
		return nil, Invalidf(op, "start", "start %d is past the file's last part (%d parts of %d bytes)", start, last, f.ChunkSize)
	}
	end := min(int64(start+count), last)
	path := DataPath(packageID, fileID)
	out := make([]Blueprint, 0, end-int64(start))
	for n := int64(start) + 1; n <= end; n++ {
		out = append(out, s.blueprint("PUT", path, url.Values{"partNumber": {strconv.FormatInt(n, 10)}, "uploadId": {uploadID}}))
	}
	return out, nil
}

// UploadBlueprints are haul's signed URLs to list (resume) and abort an
// upload.
type UploadBlueprints struct {
	UploadID  string    `json:"upload_id"`
	ListParts Blueprint `json:"list_parts"`
	Abort     Blueprint `json:"abort"`
}

// UploadURLs returns the ListParts and Abort blueprints of an upload.
func (s *Service) UploadURLs(ctx context.Context, auth PackageAuth, packageID, fileID, uploadID string) (*UploadBlueprints, error) {
	const op = "file.upload_urls"
	err := s.store.View(ctx, func(tx Tx) error {
		pk, _, err := s.packageFor(tx, op, auth, packageID, needUpload)
		if err != nil {
			return err
		}
		f, err := fileFor(tx, op, pk, fileID)
		if err != nil {
			return err
		}
		return uploadOf(op, f, uploadID)
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	path, q := DataPath(packageID, fileID), url.Values{"uploadId": {uploadID}}
	return &UploadBlueprints{UploadID: uploadID, ListParts: s.blueprint("GET", path, q), Abort: s.blueprint("DELETE", path, q)}, nil
}

// DataRequest is a request on the data plane, as signed: the method, the
// path and the query parameters, signature included.
type DataRequest struct {
	Method string
	Path   string
	Query  url.Values
}

// dataAccess verifies a data-plane request's signature and loads its
// package and file, checking the package is open for uploads.
func (s *Service) dataAccess(tx Tx, op string, dr DataRequest, packageID, fileID string) (*Package, *File, error) {
	if dr.Path != DataPath(packageID, fileID) {
		return nil, nil, errSignature(op)
	}
	if err := s.keys.VerifyURL(dr.Method, dr.Path, dr.Query, s.now()); err != nil {
		return nil, nil, err
	}
	pk, err := tx.Package(packageID)
	if Is(err, NotFound) {
		return nil, nil, &Error{Op: op, Kind: NotFound, Code: "NoSuchBucket", Msg: fmt.Sprintf("package %s not found", packageID)}
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkOpen(op, pk); err != nil {
		return nil, nil, &Error{Op: op, Kind: Forbidden, Code: "AccessDenied", Msg: err.(*Error).Msg}
	}
	f, err := fileFor(tx, op, pk, fileID)
	if err != nil {
		return nil, nil, err
	}
	return pk, f, nil
}

// CreateUpload starts the file's multipart upload (S3
// CreateMultipartUpload). A file has at most one open upload: starting
// again returns the same id, so a retried request loses no part.
func (s *Service) CreateUpload(ctx context.Context, dr DataRequest, packageID, fileID string) (string, error) {
	const op = "s3.create_upload"
	var id string
	reserved := false
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, f, err := s.dataAccess(tx, op, dr, packageID, fileID)
		if err != nil {
			return err
		}
		if f.State == FileFinalized {
			return &Error{Op: op, Kind: Conflict, Code: "InvalidRequest", Msg: fmt.Sprintf("file %s is already finalized", f.ID)}
		}
		if f.Abandoned {
			if f.UploadID != "" {
				return &Error{Op: op, Kind: Conflict, Code: "OperationAborted",
					Msg: fmt.Sprintf("the abandoned upload of file %s is being deleted; try again in a moment", f.ID)}
			}
			// Coming back after the abandoned-upload job: reserve again.
			team, err := tx.Team(pk.TeamID)
			if err != nil {
				return err
			}
			if err := s.reserve(ctx, tx, op, team, f); err != nil {
				return err
			}
			reserved = true
			f.Abandoned = false
		}
		if f.UploadID == "" {
			f.UploadID = NewID()
			f.UploadStartedAt = s.now()
			if err := tx.PutFile(f); err != nil {
				return err
			}
		}
		id = f.UploadID
		return nil
	})
	if err != nil && reserved {
		s.release(fileID)
	}
	return id, Wrap(op, err)
}

// partLimit returns the offset of part n of f and the most bytes it may
// hold: chunk_size, or what remains of the declared size for the last.
func (s *Service) partLimit(op string, f *File, n int) (off, limit int64, err error) {
	if n < 1 || n > s.uploads.MaxChunks {
		return 0, 0, &Error{Op: op, Kind: Invalid, Code: "InvalidArgument", Field: "partNumber",
			Msg: fmt.Sprintf("partNumber must be from 1 to %d", s.uploads.MaxChunks)}
	}
	off = int64(n-1) * f.ChunkSize
	limit = f.ChunkSize
	if f.Size >= 0 {
		if last := partsFor(f.Size, f.ChunkSize); int64(n) > last {
			return 0, 0, &Error{Op: op, Kind: Invalid, Code: "InvalidArgument", Field: "partNumber",
				Msg: fmt.Sprintf("partNumber %d is past the file's last part: %d bytes in parts of %d make %d parts", n, f.Size, f.ChunkSize, last)}
		}
		limit = min(limit, f.Size-off)
	}
	return off, limit, nil
}

// partBody counts a part's bytes as they stream: more than limit fails
// with EntityTooLarge, an end before the announced length (the client hung
// up) with IncompleteBody, so the ingest fails and nothing is committed.
type partBody struct {
	r     io.Reader
	limit int64
	want  int64 // Content-Length, or -1
	n     int64
}

func (b *partBody) Read(p []byte) (int, error) {
	if room := b.limit - b.n + 1; int64(len(p)) > room {
		p = p[:room] // one byte past the limit is enough to know
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return 0, errTooLarge("s3.upload_part", b.limit)
	}
	switch {
	case err == io.EOF && b.want >= 0 && b.n < b.want, err != nil && err != io.EOF:
		return n, &Error{Op: "s3.upload_part", Kind: Invalid, Code: "IncompleteBody", Err: err,
			Msg: fmt.Sprintf("the body ended after %d of %d bytes; nothing of this part was stored: send it again", b.n, b.want)}
	}
	return n, err
}

func errTooLarge(op string, limit int64) error {
	return &Error{Op: op, Kind: Invalid, Code: "EntityTooLarge",
		Msg: fmt.Sprintf("this part may hold at most %d bytes (chunk_size, or what remains of the declared size for the last part); nothing of it was stored", limit)}
}

// partETag is a part's ETag: a keyed hash of its block list, so equal
// bytes give equal ETags and nothing can be learnt from it outside the
// team.
func partETag(tk TeamKey, blocks []Block) string {
	m := hmac.New(sha256.New, tk.Key[:])
	var b [16]byte
	for _, bl := range blocks {
		m.Write(bl.Hash[:])
		binary.LittleEndian.PutUint64(b[:8], uint64(bl.Off))
		binary.LittleEndian.PutUint64(b[8:], uint64(bl.Len))
		m.Write(b[:])
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// UploadPart stores one part (S3 UploadPart): the body is streamed into
// the chunk store at the part's offset, then one transaction records the
// part and commits its blocks' references, releasing those of the part it
// replaces. It returns only when the part is durable. contentLength is -1
// when unknown (chunked).
func (s *Service) UploadPart(ctx context.Context, dr DataRequest, packageID, fileID, uploadID string, partNumber int, body io.Reader, contentLength int64) (*Part, error) {
	const op = "s3.upload_part"
	if s.chunks == nil {
		return nil, E(op, Unavailable, "the chunk store is not running")
	}
	var (
		tk         TeamKey
		off, limit int64
		declared   bool
	)
	err := s.store.View(ctx, func(tx Tx) error {
		pk, f, err := s.dataAccess(tx, op, dr, packageID, fileID)
		if err != nil {
			return err
		}
		declared = f.Size >= 0
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		if off, limit, err = s.partLimit(op, f, partNumber); err != nil {
			return err
		}
		if tk, err = teamKey(tx, pk); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	if contentLength > limit {
		return nil, errTooLarge(op, limit)
	}
	if !declared {
		// No reservation: the part must fit beside what the declared
		// uploads in progress have reserved.
		n := limit
		if contentLength >= 0 {
			n = contentLength
		}
		if err := s.fitsUnreserved(ctx, op, n); err != nil {
			return nil, err
		}
	}
	in, err := s.chunks.Ingest(ctx, tk, off, &partBody{r: body, limit: limit, want: contentLength})
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) && ce.Code != "" {
			return nil, ce
		}
		return nil, Wrap(op, err)
	}
	pt := &Part{UploadID: uploadID, FileID: fileID, PartNumber: partNumber, Size: in.Size,
		ETag: partETag(tk, in.Blocks), Blocks: in.Blocks}
	var delta int64 // bytes the upload's parts hold more than before
	err = s.store.Update(ctx, func(tx Tx) error {
		delta = pt.Size
		f, err := tx.File(fileID)
		if err != nil {
			return err
		}
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		replaced, err := s.putPart(tx, tk, f, pt, in)
		delta -= replaced
		return err
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.stored(fileID, delta, false)
	return pt, nil
}

// putPart stores pt, made of in's blocks, in place of the part of the same
// number its upload held (if any), and counts it as a sign of life of f's
// upload. It commits in before releasing the part pt replaces: a re-sent
// part deduplicates against the old part's blocks, which must not drop to
// zero references (and leave the index) in between. It returns the size
// of the part replaced (0 if none).
func (s *Service) putPart(tx Tx, tk TeamKey, f *File, pt *Part, in *Ingested) (int64, error) {
	if err := s.chunks.Commit(tx, tk, in); err != nil {
		return 0, err
	}
	var replaced int64
	old, err := tx.Part(pt.UploadID, pt.PartNumber)
	switch {
	case err == nil:
		if err := s.chunks.Release(tx, tk, old.Blocks); err != nil {
			return 0, err
		}
		replaced = old.Size
	case !Is(err, NotFound):
		return 0, err
	}
	pt.CreatedAt = s.now()
	if err := touchUpload(tx, f, pt.CreatedAt); err != nil {
		return 0, err
	}
	return replaced, tx.PutPart(pt)
}

// ListParts returns the durable parts of an upload (S3 ListParts), in part
// number order: what a resuming client need not send again.
func (s *Service) ListParts(ctx context.Context, dr DataRequest, packageID, fileID, uploadID string) ([]*Part, error) {
	const op = "s3.list_parts"
	var out []*Part
	err := s.store.View(ctx, func(tx Tx) error {
		_, f, err := s.dataAccess(tx, op, dr, packageID, fileID)
		if err != nil {
			return err
		}
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		out, err = tx.UploadParts(uploadID)
		return err
	})
	return out, Wrap(op, err)
}

// AbortUpload drops an upload and releases its parts (S3
// AbortMultipartUpload); the file may start a new one.
func (s *Service) AbortUpload(ctx context.Context, dr DataRequest, packageID, fileID, uploadID string) error {
	const op = "s3.abort_upload"
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, f, err := s.dataAccess(tx, op, dr, packageID, fileID)
		if err != nil {
			return err
		}
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		tk, err := teamKey(tx, pk)
		if err != nil {
			return err
		}
		if err := s.dropUpload(tx, tk, f); err != nil {
			return err
		}
		return tx.PutFile(f)
	})
	if err == nil {
		s.stored(fileID, 0, true)
	}
	return Wrap(op, err)
}

// PartRef is one entry of a finalize's chunk_extras.
type PartRef struct {
	Number int
	ETag   string // with or without quotes
}

// FinalizeFileRequest is the body of POST /v1/packages/{pid}/files/{fid}/finalize.
type FinalizeFileRequest struct {
	Parts    []PartRef // empty: every stored part
	UploadID string    // empty: the file's open upload
	Size     *int64
}

func invalidPart(op, format string, args ...any) error {
	return &Error{Op: op, Kind: Invalid, Code: "InvalidPart", Field: "chunk_extras", Msg: fmt.Sprintf(format, args...)}
}

// assemble checks the parts of a finalize against the stored ones and
// returns the file's blocks in order and its size.
func (s *Service) assemble(op string, f *File, req FinalizeFileRequest, stored []*Part) ([]Block, int64, error) {
	byNum := make(map[int]*Part, len(stored))
	for _, pt := range stored {
		byNum[pt.PartNumber] = pt
	}
	refs := req.Parts
	if len(refs) == 0 {
		for _, pt := range stored {
			refs = append(refs, PartRef{Number: pt.PartNumber, ETag: pt.ETag})
		}
	}
	if len(refs) == 0 {
		return nil, 0, invalidPart(op, "no part was uploaded for this file; upload at least one (an empty file takes one empty part)")
	}
	for i, r := range refs {
		if i > 0 && r.Number <= refs[i-1].Number {
			return nil, 0, &Error{Op: op, Kind: Invalid, Code: "InvalidPartOrder", Field: "chunk_extras",
				Msg: fmt.Sprintf("chunk_extras must list parts in ascending order without repeats: part %d follows part %d", r.Number, refs[i-1].Number)}
		}
	}
	var blocks []Block
	var total int64
	for i, r := range refs {
		if r.Number != i+1 {
			return nil, 0, invalidPart(op, "part %d is missing: parts must be contiguous from 1 (chunk_extras lists %d next)", i+1, r.Number)
		}
		pt := byNum[r.Number]
		if pt == nil {
			return nil, 0, invalidPart(op, "part %d was not uploaded (or not durably): upload it, then finalize again", r.Number)
		}
		if strings.Trim(r.ETag, `"`) != pt.ETag {
			return nil, 0, invalidPart(op, "part %d: the ETag %s does not match the stored part's", r.Number, r.ETag)
		}
		if i < len(refs)-1 && pt.Size != f.ChunkSize {
			return nil, 0, invalidPart(op, "part %d holds %d bytes, but every part but the last must hold chunk_size (%d) bytes", r.Number, pt.Size, f.ChunkSize)
		}
		blocks = append(blocks, pt.Blocks...)
		total += pt.Size
	}
	if req.Size != nil && *req.Size != total {
		return nil, 0, Invalidf(op, "size", "size %d does not match the %d bytes of the parts listed", *req.Size, total)
	}
	if f.Size >= 0 && f.Size != total {
		return nil, 0, Invalidf(op, "size", "the parts listed hold %d bytes, but the file was declared with size %d", total, f.Size)
	}
	return blocks, total, nil
}

// FinalizeFile completes a file's upload (S3 CompleteMultipartUpload):
// the parts listed must be every part from 1, each but the last of
// chunk_size, with matching ETags and the declared size. The listed parts
// are kept as the file's block lists (File.PartsID), its digest is
// recorded, and its size counts in the package. Parts not listed are
// released and deleted. Finalizing a finalized file
// again answers the file.
func (s *Service) FinalizeFile(ctx context.Context, auth PackageAuth, packageID, fileID string, req FinalizeFileRequest) (*File, error) {
	const op = "file.finalize"
	var (
		f      *File
		tk     TeamKey
		blocks []Block
		etags  map[int]string
	)
	err := s.store.View(ctx, func(tx Tx) error {
		pk, _, err := s.packageFor(tx, op, auth, packageID, needUpload)
		if err != nil {
			return err
		}
		if f, err = fileFor(tx, op, pk, fileID); err != nil {
			return err
		}
		if f.State == FileFinalized {
			return nil
		}
		if err := s.checkOpen(op, pk); err != nil {
			return err
		}
		uid := req.UploadID
		if uid == "" {
			uid = f.UploadID
		}
		if err := uploadOf(op, f, uid); err != nil {
			return err
		}
		if tk, err = teamKey(tx, pk); err != nil {
			return err
		}
		stored, err := tx.UploadParts(uid)
		if err != nil {
			return err
		}
		if blocks, _, err = s.assemble(op, f, req, stored); err != nil {
			return err
		}
		etags = map[int]string{}
		for _, pt := range stored {
			etags[pt.PartNumber] = pt.ETag
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	if f.State == FileFinalized {
		return f, nil
	}
	// The digest reads the last block back: outside the transaction.
	digest, err := s.chunks.Digest(ctx, tk, blocks)
	if err != nil {
		return nil, Wrap(op, err)
	}
	crc, err := s.fileCRC(ctx, tk, blocks)
	if err != nil {
		return nil, Wrap(op, err)
	}
	var (
		out    File
		cvRest []Block // blocks whose CVs finalize's transaction did not save
	)
	err = s.store.Update(ctx, func(tx Tx) error {
		cvRest = nil
		pk, err := s.openPackage(tx, op, auth, packageID)
		if err != nil {
			return err
		}
		f, err := fileFor(tx, op, pk, fileID)
		if err != nil {
			return err
		}
		if f.State == FileFinalized {
			out = *f
			return nil
		}
		uid := f.UploadID
		if err := uploadOf(op, f, uid); err != nil {
			return err
		}
		stored, err := tx.UploadParts(uid)
		if err != nil {
			return err
		}
		if len(stored) != len(etags) {
			return E(op, Conflict, "the upload's parts changed while it was being finalized; finalize again")
		}
		for _, pt := range stored {
			if etags[pt.PartNumber] != pt.ETag {
				return E(op, Conflict, "the upload's parts changed while it was being finalized; finalize again")
			}
		}
		fblocks, total, err := s.assemble(op, f, req, stored)
		if err != nil {
			return err
		}
		used := len(req.Parts)
		if used == 0 {
			used = len(stored)
		}
		for _, pt := range stored {
			if pt.PartNumber <= used {
				continue // listed: kept as the file's block lists
			}
			// Not listed: S3 drops such parts.
			if err := s.chunks.Release(tx, tk, pt.Blocks); err != nil {
				return err
			}
			if err := tx.DeletePart(uid, pt.PartNumber); err != nil {
				return err
			}
		}
		now := s.now()
		f.Size, f.Digest, f.State, f.FinalizedAt = total, digest, FileFinalized, now
		f.CRC32, f.HasCRC = crc, true
		f.Blocks, f.PartsID, f.UploadID = nil, uid, ""
		if err := tx.PutFile(f); err != nil {
			return err
		}
		pk.Size += total
		pk.TotalFiles++
		pk.UpdatedAt = now
		if err := tx.PutPackage(pk); err != nil {
			return err
		}
		// Save the blocks' CVs (the server's own, from ingest or from
		// this store) for parts by reference to come.
		if cvRest, err = saveBlockCVs(tx, tk.TeamID, fblocks, cvBatch); err != nil {
			return err
		}
		out = *f
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	// The reservation gives way to the real size (in Package.Size).
	s.release(fileID)
	s.saveRestBlockCVs(ctx, tk.TeamID, cvRest)
	return &out, nil
}

// Files lists a package's files (package token, either level).
func (s *Service) Files(ctx context.Context, auth PackageAuth, packageID string) ([]*File, error) {
	const op = "file.list"
	var out []*File
	err := s.store.View(ctx, func(tx Tx) error {
		pk, _, err := s.packageFor(tx, op, auth, packageID, needRead)
		if err != nil {
			return err
		}
		if pk.State == PackageArchived {
			return E(op, Gone, "package %s was deleted", pk.ID)
		}
		if pk.State == PackageExpired {
			return E(op, Gone, "package %s has expired: its files were deleted", pk.ID)
		}
		all, err := tx.PackageFiles(pk.ID)
		for _, f := range all {
			if f.State != FileDeleting {
				out = append(out, f)
			}
		}
		return err
	})
	return out, Wrap(op, err)
}

// DeleteFile removes a file from a package that is still being uploaded
// (package token, full level): its parts and, if it was finalized, its
// blocks are released (in batches, as DeletePackage does) and its size
// leaves the package's.
func (s *Service) DeleteFile(ctx context.Context, auth PackageAuth, packageID, fileID string) error {
	const op = "file.delete"
	var tk TeamKey
	err := s.store.Update(ctx, func(tx Tx) error {
		pk, err := s.openPackage(tx, op, auth, packageID)
		if err != nil {
			return err
		}
		f, err := tx.File(fileID)
		if Is(err, NotFound) || (err == nil && f.PackageID != pk.ID) {
			return E(op, NotFound, "file %s not found in package %s", fileID, pk.ID)
		}
		if err != nil {
			return err
		}
		if tk, err = teamKey(tx, pk); err != nil {
			return err
		}
		if f.State == FileDeleting { // an earlier call did not finish
			return nil
		}
		if f.State == FileFinalized {
			pk.Size -= f.Size
			pk.TotalFiles--
			pk.UpdatedAt = s.now()
			if err := tx.PutPackage(pk); err != nil {
				return err
			}
		}
		f.State = FileDeleting
		return tx.PutFile(f)
	})
	if err != nil {
		return Wrap(op, err)
	}
	s.release(fileID)
	for {
		gone := false
		err := s.store.Update(ctx, func(tx Tx) error {
			gone = false
			f, err := tx.File(fileID)
			if err != nil {
				return err
			}
			n, err := s.releaseSome(tx, tk, f, s.uploads.ReleaseBatch)
			if err != nil || n > 0 {
				return err
			}
			gone = true
			return tx.DeleteFile(fileID)
		})
		if err != nil {
			return Wrap(op, err)
		}
		if gone {
			return nil
		}
	}
}
