package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Package is MASV's package object (the fields clients use).
type Package struct {
	ID          string    `json:"id"`
	TeamID      string    `json:"team_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Sender      string    `json:"sender"`
	AccessToken string    `json:"access_token"`
	State       string    `json:"state"`
	Size        int64     `json:"size"`
	TotalFiles  int       `json:"total_files"`
	Expiry      time.Time `json:"expiry"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreatePackageRequest is what a new team package carries; zero fields
// take the team's defaults.
type CreatePackageRequest struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Recipients  []string  `json:"recipients,omitempty"`
	Password    string    `json:"password,omitempty"`
	AccessLimit *int      `json:"access_limit,omitempty"`
	Expiry      time.Time `json:"-"`
	TeamspaceID string    `json:"teamspace_id,omitempty"`
}

// CreatePackage makes a team package (API key or user token); its
// AccessToken is the package token the upload calls need.
func (c *Client) CreatePackage(ctx context.Context, teamID string, req CreatePackageRequest) (*Package, error) {
	body := map[string]any{}
	b, _ := json.Marshal(req)
	_ = json.Unmarshal(b, &body)
	if !req.Expiry.IsZero() {
		body["expiry"] = req.Expiry.UTC().Format(time.RFC3339Nano)
	}
	var out Package
	return &out, c.do(ctx, "POST", "/v1/teams/"+url.PathEscape(teamID)+"/packages", nil, body, &out)
}

// FinalizePackage locks a package whose files are all finalized.
func (c *Client) FinalizePackage(ctx context.Context, packageToken, packageID string) (*Package, error) {
	var out Package
	return &out, c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+url.PathEscape(packageID)+"/finalize", nil, nil, &out)
}

// DeletePackage archives a package and releases its data.
func (c *Client) DeletePackage(ctx context.Context, packageToken, packageID string) error {
	return c.doPkg(ctx, packageToken, "DELETE", "/v1/packages/"+url.PathEscape(packageID), nil, nil, nil)
}

// DeleteFile removes a file from a package not yet finalized.
func (c *Client) DeleteFile(ctx context.Context, packageToken, packageID, fileID string) error {
	return c.doPkg(ctx, packageToken, "DELETE", "/v1/packages/"+url.PathEscape(packageID)+"/files/"+url.PathEscape(fileID), nil, nil, nil)
}

// File is MASV's file object with haul's digest (hex BLAKE3 of the bytes).
type File struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Path         string    `json:"path"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
	State        string    `json:"state"`
	Digest       string    `json:"digest"`
}

// Files lists a package's files and, once it is finalized, its zip
// (Kind "zip_windows", ID "zip"), as MASV lists them.
func (c *Client) Files(ctx context.Context, packageToken, packageID string) ([]File, error) {
	var out []File
	return out, c.doPkg(ctx, packageToken, "GET", "/v1/packages/"+url.PathEscape(packageID)+"/files", nil, nil, &out)
}

// doPkg is do with the package token as the only credential: API keys and
// user tokens never go to package routes.
func (c *Client) doPkg(ctx context.Context, token, method, path string, query url.Values, in, out any) error {
	pc := *c
	pc.APIKey, pc.UserToken, pc.packageToken = "", "", token
	return pc.do(ctx, method, path, query, in, out)
}

// blueprint is MASV's pre-signed request.
type blueprint struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// UploadOptions tune UploadFile; zero values are sensible.
type UploadOptions struct {
	// Retries is how many times a part is tried again after a network
	// error or a 5xx/409 answer (default 5), with exponential backoff from
	// RetryWait (default 500 ms).
	Retries   int
	RetryWait time.Duration
	// LastModified is sent as the file's last_modified.
	LastModified time.Time
	// OnStart, when set, is told the upload as soon as it exists, so a
	// caller can keep it and ResumeUpload after a failure or a crash.
	OnStart func(Upload)
	// Progress, when set, is told part bytes as the transport reads them
	// (and minus what a failed try had read: it is sent again), and the
	// size of each part the server already holds or took by reference.
	Progress func(n int64)
	// OnPart, when set, is told each part (numbered from 1) once the
	// server holds it: sent is false for a part held already (a resumed
	// upload) or recorded by reference.
	OnPart func(part int, size int64, sent bool)
	// Throttle, when set, is called before n part bytes are read and may
	// wait (a rate limit); its error fails the part.
	Throttle func(ctx context.Context, n int) error
	// StallTimeout, when set, gives up on a part whose body the server
	// has stopped taking for this long (ErrStalled, retried like a network
	// error); once the body is sent, the transport's response timeout
	// applies.
	StallTimeout time.Duration
}

// ErrStalled is a part given up on because the server stopped reading it.
var ErrStalled error = stalled{}

type stalled struct{}

func (stalled) Error() string   { return "haul: the server stopped taking the part's bytes" }
func (stalled) Timeout() bool   { return true }
func (stalled) Temporary() bool { return true }

// withDefaults fills in the zero Retries and RetryWait.
func (o UploadOptions) withDefaults() UploadOptions {
	if o.Retries == 0 {
		o.Retries = 5
	}
	if o.RetryWait <= 0 {
		o.RetryWait = 500 * time.Millisecond
	}
	return o
}

// UploadFile uploads size bytes of r as the file name in folder path of a
// package, with MASV's blueprint flow: add the file, create the multipart
// upload, fetch part URLs, PUT up to parallel parts at once (each retried
// on network errors and 5xx answers), then finalize the file with every
// part's ETag. chunkSize 0 is the server's default (100 MiB).
func (c *Client) UploadFile(ctx context.Context, packageToken, packageID, name, path string, r io.ReaderAt, size, chunkSize int64, parallel int) (*File, error) {
	return c.UploadFileWith(ctx, packageToken, packageID, name, path, r, size, chunkSize, parallel, UploadOptions{})
}

// UploadFileWith is UploadFile with options.
func (c *Client) UploadFileWith(ctx context.Context, packageToken, packageID, name, path string, r io.ReaderAt, size, chunkSize int64, parallel int, opt UploadOptions) (*File, error) {
	opt = opt.withDefaults()
	parallel = max(parallel, 1)
	up, err := c.startUpload(ctx, packageToken, packageID, name, path, size, chunkSize, opt)
	if err != nil {
		return nil, err
	}
	return c.finishUpload(ctx, packageToken, packageID, up.FileID, up.UploadID, r, size, up.ChunkSize, parallel, opt, nil)
}

// Upload names a multipart upload in progress, what a client keeps to
// resume after a crash.
type Upload struct {
	PackageID string
	FileID    string
	UploadID  string
	ChunkSize int64
}

// ResumeUpload finishes an upload started earlier (by this or another
// process): it asks the server which parts are durable (S3 ListParts on a
// signed URL), sends only the others from r, and finalizes the file.
// Parts already stored are trusted, as S3 clients trust ListParts.
func (c *Client) ResumeUpload(ctx context.Context, packageToken string, up Upload, r io.ReaderAt, size int64, parallel int, opt UploadOptions) (*File, error) {
	opt = opt.withDefaults()
	var urls struct {
		ListParts blueprint `json:"list_parts"`
	}
	p := "/v1/packages/" + url.PathEscape(up.PackageID) + "/files/" + url.PathEscape(up.FileID) + "/uploads/" + url.PathEscape(up.UploadID)
	if err := c.doPkg(ctx, packageToken, "GET", p, nil, nil, &urls); err != nil {
		return nil, err
	}
	var listed struct {
		Parts []struct {
			PartNumber int
			ETag       string
			Size       int64
		} `xml:"Part"`
	}
	if err := c.replayXML(ctx, opt, urls.ListParts, &listed); err != nil {
		return nil, fmt.Errorf("haul: listing the parts of upload %s: %w", up.UploadID, err)
	}
	have := map[int]string{}
	for _, pt := range listed.Parts {
		off := int64(pt.PartNumber-1) * up.ChunkSize
		if off < size && pt.Size == min(up.ChunkSize, size-off) {
			have[pt.PartNumber] = pt.ETag
		}
	}
	return c.finishUpload(ctx, packageToken, up.PackageID, up.FileID, up.UploadID, r, size, up.ChunkSize, max(parallel, 1), opt, have)
}

// finishUpload sends every part not in have, then finalizes the file.
func (c *Client) finishUpload(ctx context.Context, packageToken, packageID, fid, uploadID string, r io.ReaderAt, size, chunk int64, parallel int, opt UploadOptions, have map[int]string) (*File, error) {
	pid := url.PathEscape(packageID)
	n := int((size + chunk - 1) / chunk)
	if n == 0 {
		n = 1
	}
	etags := make([]string, n)
	for k, et := range have {
		if k >= 1 && k <= n {
			etags[k-1] = et
			partSize := min(chunk, size-int64(k-1)*chunk)
			if opt.Progress != nil {
				opt.Progress(partSize)
			}
			if opt.OnPart != nil {
				opt.OnPart(k, partSize, false)
			}
		}
	}
	const batch = 1000
	for start := 0; start < n; start += batch {
		count := min(batch, n-start)
		missing := false
		for k := start; k < start+count; k++ {
			if etags[k] == "" {
				missing = true
			}
		}
		if !missing {
			continue
		}
		var bps []blueprint
		q := url.Values{"start": {strconv.Itoa(start)}, "count": {strconv.Itoa(count)}}
		if err := c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+pid+"/files/"+url.PathEscape(fid), q, map[string]string{"upload_id": uploadID}, &bps); err != nil {
			return nil, err
		}
		if err := c.putParts(ctx, r, size, chunk, start, bps, etags, parallel, opt); err != nil {
			return nil, err
		}
	}
	extras := make([]map[string]string, n)
	for i, et := range etags {
		extras[i] = map[string]string{"partNumber": strconv.Itoa(i + 1), "etag": et}
	}
	var f File
	err := c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+pid+"/files/"+url.PathEscape(fid)+"/finalize", nil,
		map[string]any{"chunk_extras": extras, "file_extras": map[string]string{"upload_id": uploadID}, "size": size, "chunk_size": chunk}, &f)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// putParts uploads the parts whose blueprints are bps (part start+1 on),
// parallel at a time.
func (c *Client) putParts(ctx context.Context, r io.ReaderAt, size, chunk int64, start int, bps []blueprint, etags []string, parallel int, opt UploadOptions) error {
	idx := make([]int, len(bps))
	for i := range idx {
		idx[i] = i
	}
	return forEach(ctx, idx, parallel, func(ctx context.Context, i int) error {
		k := start + i
		if etags[k] != "" {
			return nil // durable already (a resumed upload)
		}
		off := int64(k) * chunk
		n := min(chunk, size-off)
		err := c.retry(ctx, opt, func() error {
			pctx := ctx
			body := &meteredReader{r: io.NewSectionReader(r, off, n), ctx: ctx, opt: &opt, size: n}
			if opt.StallTimeout > 0 {
				var cancel context.CancelCauseFunc
				pctx, cancel = context.WithCancelCause(ctx)
				defer cancel(nil)
				timer := time.AfterFunc(opt.StallTimeout, func() { cancel(ErrStalled) })
				defer timer.Stop()
				body.ctx = pctx
				body.tick = func(done bool) {
					if done {
						timer.Stop()
					} else {
						timer.Reset(opt.StallTimeout)
					}
				}
			}
			_, h, err := c.replay(pctx, bps[i], body, n)
			if err != nil && context.Cause(pctx) == ErrStalled {
				err = ErrStalled
			}
			if err == nil {
				etags[k] = h.Get("ETag")
			} else if opt.Progress != nil {
				opt.Progress(-body.read)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("haul: part %d: %w", k+1, err)
		}
		if opt.OnPart != nil {
			opt.OnPart(k+1, n, true)
		}
		return nil
	})
}

// meteredReader is a part body that reports progress and waits for the
// throttle as the transport reads it.
type meteredReader struct {
	r    io.Reader
	ctx  context.Context
	opt  *UploadOptions
	read int64
	size int64
	tick func(done bool) // the stall timer: bytes moved, or the body ended
}

func (m *meteredReader) Read(p []byte) (int, error) {
	if m.opt.Throttle != nil && len(p) > 0 {
		if len(p) > 256<<10 {
			p = p[:256<<10] // a throttle waits for small steps
		}
		if err := m.opt.Throttle(m.ctx, len(p)); err != nil {
			return 0, err
		}
	}
	n, err := m.r.Read(p)
	m.read += int64(n)
	if m.opt.Progress != nil && n > 0 {
		m.opt.Progress(int64(n))
	}
	if m.tick != nil {
		m.tick(err != nil || m.read >= m.size)
	}
	return n, err
}

// retry runs f until it succeeds, fails for good, or the retries run out.
func (c *Client) retry(ctx context.Context, opt UploadOptions, f func() error) error {
	wait := opt.RetryWait
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt >= opt.Retries || !retryable(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// retryable says whether a failed request may succeed if sent again: a
// network error, a 5xx, a 409 (the store asks for the part again) or a 429.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusConflict || e.Status == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset")
}

// replayXML replays a blueprint without a body (retried as opt says) and
// decodes the XML answer into v.
func (c *Client) replayXML(ctx context.Context, opt UploadOptions, bp blueprint, v any) error {
	return c.retry(ctx, opt, func() error {
		b, _, err := c.replay(ctx, bp, nil, 0)
		if err != nil {
			return err
		}
		return xml.Unmarshal(b, v)
	})
}

// replay sends a blueprint exactly, with body (n bytes) if given, and
// returns the answer's body and headers.
func (c *Client) replay(ctx context.Context, bp blueprint, body io.Reader, n int64) ([]byte, http.Header, error) {
	if body == nil && bp.Body != "" {
		body, n = strings.NewReader(bp.Body), int64(len(bp.Body))
	}
	if body == nil {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, bp.Method, bp.URL, body)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = n
	for k, v := range bp.Headers {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{} // parts may take long: the context bounds them
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return nil, nil, readError(res)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	return b, res.Header, err
}
