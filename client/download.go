package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/zeebo/blake3"
)

// OpenedLink is what opening a link gives: the package and a download-level
// package token (it lists and downloads, nothing else).
type OpenedLink struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	PackageID      string    `json:"package_id"`
	PackageSize    int64     `json:"package_size"`
	PackageToken   string    `json:"package_token"`
	Expiry         time.Time `json:"expiry"`
	SenderEmail    string    `json:"sender_email"`
	RecipientEmail string    `json:"recipient_email"`
	TotalFiles     int       `json:"total_files"`
}

// OpenLink opens a link (GET /v1/links/{id}?secret=), with its password if
// it has one. Each call is one download for the sender's history; its
// token's first file URL counts against the link's access limit.
func (c *Client) OpenLink(ctx context.Context, linkID, secret, password string) (*OpenedLink, error) {
	path := "/v1/links/" + url.PathEscape(linkID)
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+path+"?secret="+url.QueryEscape(secret), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if password != "" {
		req.Header.Set("X-Link-Password", password)
	}
	var out OpenedLink
	return &out, c.send(req, path, &out, false)
}

// DownloadURL returns a signed URL of a file's bytes (fileID "zip": the
// whole package as a zip).
func (c *Client) DownloadURL(ctx context.Context, packageToken, packageID, fileID string) (string, error) {
	var bp blueprint
	err := c.doPkg(ctx, packageToken, "GET", "/v1/packages/"+url.PathEscape(packageID)+"/files/"+url.PathEscape(fileID)+"/download", nil, nil, &bp)
	return bp.URL, err
}

// CompleteDownload tells haul a download (a link's token) is finished; it
// answers 409 while a file, or the zip, was not served whole.
func (c *Client) CompleteDownload(ctx context.Context, packageToken, packageID string) error {
	return c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+url.PathEscape(packageID)+"/download_complete", nil, struct{}{}, nil)
}

// DownloadOptions tune Download.
type DownloadOptions struct {
	// Retries is how many times a broken transfer is resumed (default
	// 10), waiting RetryWait (default 500 ms) doubled each time up to 30 s.
	Retries   int
	RetryWait time.Duration
}

// ErrDigestMismatch is returned when a downloaded file's BLAKE3 is not the
// one haul recorded: the local copy is damaged and must be fetched again.
var ErrDigestMismatch = errors.New("haul: the downloaded file's BLAKE3 digest does not match haul's")

// Download writes a package's file (f from Files) to dst, continuing from
// dst's current length: a download interrupted earlier, even by a crash,
// resumes where it stopped. A broken transfer is resumed with a Range
// request (If-Range on the first answer's ETag, so a changed file is never
// spliced), a new URL is asked for when the old one expired, and once
// complete a file with a digest is read back and checked against it.
func (c *Client) Download(ctx context.Context, packageToken, packageID string, f File, dst *os.File, opt DownloadOptions) error {
	if opt.Retries == 0 {
		opt.Retries = 10
	}
	if opt.RetryWait <= 0 {
		opt.RetryWait = 500 * time.Millisecond
	}
	have, err := dst.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > f.Size {
		return fmt.Errorf("haul: %s holds %d bytes, more than the %d of %s: remove it and download again", dst.Name(), have, f.Size, f.Name)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{} // no overall timeout: the context bounds a download
	}
	var (
		u, etag string
		wait    = opt.RetryWait
	)
	for attempt := 0; have < f.Size; attempt++ {
		if u == "" {
			if u, err = c.DownloadURL(ctx, packageToken, packageID, f.ID); err != nil {
				return err
			}
		}
		n, err := c.fetchFrom(ctx, hc, u, etag, have, &etag, dst)
		have += n
		if err == nil && have < f.Size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil {
			break
		}
		var he *Error
		if errors.As(err, &he) && he.Status == http.StatusForbidden {
			u = "" // the URL expired: ask for a new one
		} else if !retryable(err) {
			return err
		}
		if attempt >= opt.Retries {
			return fmt.Errorf("haul: downloading %s stopped at %d of %d bytes: %w (run again to resume)", f.Name, have, f.Size, err)
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
	if err := dst.Sync(); err != nil {
		return err
	}
	if f.Digest == "" {
		return nil
	}
	h := blake3.New()
	if _, err := io.Copy(h, io.NewSectionReader(dst, 0, f.Size)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Errorf("%w: %s is %s, haul recorded %s; delete it and download again", ErrDigestMismatch, dst.Name(), got, f.Digest)
	}
	return nil
}

// fetchFrom GETs u from byte off on (If-Range etag when known) and appends
// the body to dst; it returns the bytes written and records the ETag.
func (c *Client) fetchFrom(ctx context.Context, hc *http.Client, u, etag string, off int64, gotETag *string, dst io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, err
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
		if etag != "" {
			req.Header.Set("If-Range", etag)
		}
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusPartialContent && off > 0:
	case res.StatusCode == http.StatusOK && off == 0:
	case res.StatusCode == http.StatusOK:
		return 0, fmt.Errorf("haul: the file changed since the download started (the server sent it whole): delete the partial copy and download again")
	default:
		return 0, readError(res)
	}
	*gotETag = res.Header.Get("ETag")
	return io.Copy(dst, res.Body)
}

// Link is a package's link as haul lists it.
type Link struct {
	ID                 string     `json:"id"`
	PackageID          string     `json:"package_id"`
	DownloadSecret     string     `json:"download_secret"`
	URL                string     `json:"url"`
	AccessLimit        int        `json:"access_limit"`
	AccessLimitEnabled bool       `json:"access_limit_enabled"`
	AccessCount        int        `json:"access_count"`
	Active             bool       `json:"active"`
	Disabled           bool       `json:"disabled"`
	Expiry             time.Time  `json:"expiry"`
	Email              string     `json:"email"`
	AccessedAt         *time.Time `json:"accessed_at"`
}

// CreateLinkRequest is a new link: Email empty for a direct-download
// link; zero Expiry and nil AccessLimit take the package's.
type CreateLinkRequest struct {
	Email       string     `json:"email,omitempty"`
	Password    string     `json:"password,omitempty"`
	Expiry      *time.Time `json:"expiry,omitempty"`
	AccessLimit *int       `json:"access_limit,omitempty"`
}

// CreateLink adds a link to a package (its full package token).
func (c *Client) CreateLink(ctx context.Context, packageToken, packageID string, req CreateLinkRequest) (*Link, error) {
	var out Link
	return &out, c.doPkg(ctx, packageToken, "POST", "/v1/packages/"+url.PathEscape(packageID)+"/links", nil, req, &out)
}

// Links lists a package's links, disabled ones included.
func (c *Client) Links(ctx context.Context, packageToken, packageID string) ([]Link, error) {
	var out []Link
	return out, c.doPkg(ctx, packageToken, "GET", "/v1/packages/"+url.PathEscape(packageID)+"/links", nil, nil, &out)
}

// DisableLink turns a link off; it stays listed.
func (c *Client) DisableLink(ctx context.Context, packageToken, packageID, linkID string) error {
	return c.doPkg(ctx, packageToken, "DELETE", "/v1/packages/"+url.PathEscape(packageID)+"/links/"+url.PathEscape(linkID), nil, nil, nil)
}
