package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"
)

// Resume by content (haul's, beyond MASV): a team member's client hashes a
// file's blocks with the team's block key, asks which the team already
// stores, records the parts made only of stored blocks by reference and
// uploads the others. Blocks are cut as the server's chunk store cuts
// them: at file offsets that are multiples of the block size, and at part
// edges.

// BlockKey is a team's block key and the server's block size.
type BlockKey struct {
	Key       [32]byte
	BlockSize int64
}

// BlockKey fetches the team's block key (API key or user token of a member
// who is not a guest).
func (c *Client) BlockKey(ctx context.Context, teamID string) (*BlockKey, error) {
	var out struct {
		BlockKey  string `json:"block_key"`
		BlockSize int64  `json:"block_size"`
	}
	if err := c.do(ctx, "GET", "/v1/teams/"+url.PathEscape(teamID)+"/block_key", nil, nil, &out); err != nil {
		return nil, err
	}
	var k BlockKey
	if b, err := hex.DecodeString(out.BlockKey); err != nil || len(b) != 32 || out.BlockSize <= 0 {
		return nil, fmt.Errorf("haul: the server's block key answer is malformed (%d hex characters, block_size %d)", len(out.BlockKey), out.BlockSize)
	} else {
		copy(k.Key[:], b)
	}
	k.BlockSize = out.BlockSize
	return &k, nil
}

// ContentResult is what UploadFileByContent did.
type ContentResult struct {
	File *File
	// BytesSent counts the part bytes sent to the server (retries
	// included); the rest was recorded by reference.
	BytesSent        int64
	PartsByReference int
	PartsUploaded    int
}

// contentBlock is one block of the file as the store would cut it.
type contentBlock struct {
	off, n int64
	hash   [32]byte
}

// UploadFileByContent uploads size bytes of r as the file name in folder
// path of package packageID (of team teamID) like UploadFileWith, but
// moves only the parts holding blocks the team does not store. The client
// must carry the caller's APIKey or UserToken (a member of the team) as
// well as the package token. The file is read twice: once to hash every
// block (in parallel, on every core), then the parts that must travel.
func (c *Client) UploadFileByContent(ctx context.Context, teamID, packageToken, packageID, name, path string, r io.ReaderAt, size, chunkSize int64, parallel int, opt UploadOptions) (*ContentResult, error) {
	if c.APIKey == "" && c.UserToken == "" {
		return nil, errors.New("haul: resume by content needs an API key or a user token of a team member")
	}
	opt = opt.withDefaults()
	parallel = max(parallel, 1)
	key, err := c.BlockKey(ctx, teamID)
	if err != nil {
		return nil, err
	}
	up, err := c.startUpload(ctx, packageToken, packageID, name, path, size, chunkSize, opt)
	if err != nil {
		return nil, err
	}
	chunk := up.ChunkSize
	nparts := max(1, int((size+chunk-1)/chunk))

	// Cut and hash every block.
	var blocks []contentBlock
	first := make([]int, nparts+1) // blocks of part k: blocks[first[k]:first[k+1]]
	for k := range nparts {
		first[k] = len(blocks)
		end := min(int64(k+1)*chunk, size)
		for off := int64(k) * chunk; off < end; {
			n := min(key.BlockSize-off%key.BlockSize, end-off)
			blocks = append(blocks, contentBlock{off: off, n: n})
			off += n
		}
	}
	first[nparts] = len(blocks)
	if err := hashBlocks(ctx, r, key, blocks); err != nil {
		return nil, err
	}

	// Which blocks does the team store?
	known := map[[32]byte]bool{}
	var ask []string
	var askH [][32]byte
	for _, b := range blocks {
		if _, ok := known[b.hash]; !ok {
			known[b.hash] = false
			ask = append(ask, hex.EncodeToString(b.hash[:]))
			askH = append(askH, b.hash)
		}
	}
	fp := "/v1/packages/" + url.PathEscape(packageID) + "/files/" + url.PathEscape(up.FileID)
	const batch = 10000
	for i := 0; i < len(ask); i += batch {
		j := min(i+batch, len(ask))
		var ans struct {
			Known []bool `json:"known"`
		}
		err := c.retry(ctx, opt, func() error {
			return c.doContent(ctx, packageToken, "POST", fp+"/known_blocks", map[string]any{"hashes": ask[i:j]}, &ans)
		})
		if err != nil {
			return nil, fmt.Errorf("haul: asking which blocks the team stores: %w", err)
		}
		if len(ans.Known) != j-i {
			return nil, fmt.Errorf("haul: known_blocks answered %d booleans for %d hashes", len(ans.Known), j-i)
		}
		for k, v := range ans.Known {
			known[askH[i+k]] = v
		}
	}

	// Record the fully known parts by reference; the others travel.
	var refs []int
	for k := range nparts {
		bs := blocks[first[k]:first[k+1]]
		all := len(bs) > 0 && len(bs) <= maxRefBlocks
		for _, b := range bs {
			all = all && known[b.hash]
		}
		if all {
			refs = append(refs, k)
		}
	}
	have := make(map[int]string, len(refs))
	var mu sync.Mutex
	if err := forEach(ctx, refs, parallel, func(ctx context.Context, k int) error {
		bs := blocks[first[k]:first[k+1]]
		list := make([]map[string]any, len(bs))
		for i, b := range bs {
			list[i] = map[string]any{"hash": hex.EncodeToString(b.hash[:]), "offset": b.off, "length": b.n}
		}
		var ans struct {
			ETag string `json:"etag"`
		}
		err := c.retry(ctx, UploadOptions{Retries: opt.Retries, RetryWait: opt.RetryWait}, func() error {
			err := c.doContent(ctx, packageToken, "POST", fp+"/parts/"+strconv.Itoa(k+1)+"/by_reference",
				map[string]any{"upload_id": up.UploadID, "blocks": list}, &ans)
			if StatusOf(err) == http.StatusConflict {
				return &stopRetry{err} // a block vanished: upload the part instead
			}
			return err
		})
		var sr *stopRetry
		switch {
		case err == nil:
			mu.Lock()
			have[k+1] = ans.ETag
			mu.Unlock()
		case errors.As(err, &sr):
		default:
			return fmt.Errorf("haul: part %d by reference: %w", k+1, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	cr := &countingReaderAt{r: r}
	f, err := c.finishUpload(ctx, packageToken, packageID, up.FileID, up.UploadID, cr, size, chunk, parallel, opt, have)
	if err != nil {
		return nil, err
	}
	return &ContentResult{File: f, BytesSent: cr.n.Load(), PartsByReference: len(have), PartsUploaded: nparts - len(have)}, nil
}

// maxRefBlocks is the server's limit of blocks in a part by reference
// (core.MaxReferenceBlocks); a part with more is uploaded.
const maxRefBlocks = 8000

// stopRetry ends retry's loop with an error the caller handles.
type stopRetry struct{ err error }

func (s *stopRetry) Error() string { return s.err.Error() }

// startUpload adds the file and creates its multipart upload.
func (c *Client) startUpload(ctx context.Context, packageToken, packageID, name, path string, size, chunkSize int64, opt UploadOptions) (*Upload, error) {
	add := map[string]any{"kind": "file", "name": name, "path": path, "size": size}
	if chunkSize > 0 {
		add["chunk_size"] = chunkSize
	}
	if !opt.LastModified.IsZero() {
		add["last_modified"] = opt.LastModified.UTC().Format(time.RFC3339Nano)
	}
	var added struct {
		File struct {
			ID        string `json:"id"`
			ChunkSize int64  `json:"chunk_size"`
		} `json:"file"`
		CreateBlueprint blueprint `json:"create_blueprint"`
	}
	if err := c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+url.PathEscape(packageID)+"/files", nil, add, &added); err != nil {
		return nil, err
	}
	var init struct {
		UploadID string `xml:"UploadId"`
	}
	if err := c.replayXML(ctx, opt, added.CreateBlueprint, &init); err != nil {
		return nil, fmt.Errorf("haul: starting the upload of %s: %w", name, err)
	}
	up := &Upload{PackageID: packageID, FileID: added.File.ID, UploadID: init.UploadID, ChunkSize: added.File.ChunkSize}
	if opt.OnStart != nil {
		opt.OnStart(*up)
	}
	return up, nil
}

// hashBlocks computes every block's keyed BLAKE3 address, reading blocks
// in parallel (one block buffer per core).
func hashBlocks(ctx context.Context, r io.ReaderAt, key *BlockKey, blocks []contentBlock) error {
	idx := make([]int, len(blocks))
	for i := range idx {
		idx[i] = i
	}
	var pool sync.Pool
	return forEach(ctx, idx, runtime.GOMAXPROCS(0), func(_ context.Context, i int) error {
		b := &blocks[i]
		st, _ := pool.Get().(*hashState)
		if st == nil {
			h, err := blake3.NewKeyed(key.Key[:])
			if err != nil {
				return err
			}
			st = &hashState{h: h, buf: make([]byte, key.BlockSize)}
		}
		defer pool.Put(st)
		buf := st.buf[:b.n]
		if n, err := r.ReadAt(buf, b.off); n != len(buf) {
			return fmt.Errorf("haul: reading %d bytes at %d: %w", len(buf), b.off, err)
		}
		st.h.Reset()
		st.h.Write(buf)
		st.h.Sum(b.hash[:0])
		return nil
	})
}

type hashState struct {
	h   *blake3.Hasher
	buf []byte
}

// forEach runs f on every item with at most n at once; the first error
// cancels the rest and is returned.
func forEach(ctx context.Context, items []int, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range jobs {
				if err := f(ctx, it); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case jobs <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// countingReaderAt counts the bytes read through it: the part bodies sent.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// doContent sends a JSON request with both the package token and the
// caller's own credential, as the resume-by-content routes require.
func (c *Client) doContent(ctx context.Context, packageToken, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Package-Token", packageToken)
	if c.APIKey != "" {
		req.Header.Set("X-API-KEY", c.APIKey)
	} else {
		req.Header.Set("X-User-Token", c.UserToken)
	}
	return c.send(req, path, out, false)
}
