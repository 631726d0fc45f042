package httpd

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"haul/core"
)

// Resume by content: the team's block key, which blocks the team stores,
// and parts committed by reference. The package routes here need two
// credentials: the package's X-Package-Token and a team member's X-API-KEY
// or X-User-Token (never a session cookie, never the package token alone).

// BlockKeyResponse is GET /v1/teams/{id}/block_key.
type BlockKeyResponse struct {
	BlockKey  string `json:"block_key"`  // hex, 32 bytes: the BLAKE3 key of the team's block addresses
	BlockSize int64  `json:"block_size"` // blocks are cut at file offsets that are multiples of it
}

func (s *Server) blockKey(c *fiber.Ctx, p *core.Principal) error {
	k, err := s.svc.BlockKey(c.UserContext(), p, param(c, "team_id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(BlockKeyResponse{BlockKey: k.Key.String(), BlockSize: k.BlockSize})
}

// contentPrincipal authenticates the user credential of a resume-by-content
// package route: X-API-KEY or X-User-Token only. It returns nil when the
// request carries neither (core then refuses with 401).
func (s *Server) contentPrincipal(c *fiber.Ctx, op string) (*core.Principal, error) {
	cr := s.credentials(c)
	cr.Cookie = ""
	if cr.APIKey == "" && cr.UserToken == "" {
		return nil, core.E(op, core.Unauthenticated, "resume by content needs a team member's credential: send X-API-KEY or X-User-Token along with X-Package-Token (a package token alone is never enough)")
	}
	return s.svc.Authenticate(c.UserContext(), cr)
}

// contentAuth is the package token of a resume-by-content route.
func contentAuth(c *fiber.Ctx) core.PackageAuth {
	return core.PackageAuth{Token: c.Get("X-Package-Token")}
}

// KnownBlocksRequest is the body of POST …/files/{fid}/known_blocks.
type KnownBlocksRequest struct {
	Hashes []string `json:"hashes"` // hex keyed BLAKE3-256 block addresses
}

// KnownBlocksResponse says, per hash in order, whether the team stores it.
type KnownBlocksResponse struct {
	Known []bool `json:"known"`
}

func parseHash(op, field string, i int, s string) (core.Hash, error) {
	h, err := core.ParseHash(s)
	if err != nil {
		return h, core.Invalidf(op, field, "%s[%d] must be 64 hex digits (a keyed BLAKE3-256 block address); got %q", field, i, clipString(s, 80))
	}
	return h, nil
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *Server) knownBlocks(c *fiber.Ctx) error {
	const op = "file.known_blocks"
	p, err := s.contentPrincipal(c, op)
	if err != nil {
		return err
	}
	var req KnownBlocksRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	if len(req.Hashes) > core.MaxKnownBlocksQuery {
		return core.Invalidf(op, "hashes", "at most %d hashes per call; got %d", core.MaxKnownBlocksQuery, len(req.Hashes))
	}
	hs := make([]core.Hash, len(req.Hashes))
	for i, x := range req.Hashes {
		if hs[i], err = parseHash(op, "hashes", i, x); err != nil {
			return err
		}
	}
	known, err := s.svc.KnownBlocks(c.UserContext(), contentAuth(c), p, param(c, "package_id"), param(c, "file_id"), hs)
	if err != nil {
		return err
	}
	return c.JSON(KnownBlocksResponse{Known: known})
}

// RefBlock is one block of a part by reference.
type RefBlock struct {
	Hash   string `json:"hash"`   // hex keyed BLAKE3-256 address
	Offset int64  `json:"offset"` // in the file
	Length int64  `json:"length"`
}

// ByReferenceRequest is the body of POST …/parts/{n}/by_reference.
type ByReferenceRequest struct {
	UploadID string     `json:"upload_id"`
	Blocks   []RefBlock `json:"blocks"`
}

// ByReferenceResponse is the part recorded; ETag is what finalize's
// chunk_extras needs (quoted, as UploadPart's ETag header).
type ByReferenceResponse struct {
	PartNumber int    `json:"part_number"`
	ETag       string `json:"etag"`
	Size       int64  `json:"size"`
}

func (s *Server) partByReference(c *fiber.Ctx) error {
	const op = "file.part_by_reference"
	p, err := s.contentPrincipal(c, op)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(c.Params("part_number"))
	if err != nil || n < 1 {
		return core.Invalidf(op, "part_number", "part_number must be a whole number from 1; got %q", clipString(c.Params("part_number"), 40))
	}
	var req ByReferenceRequest
	if err := decode(c, op, &req); err != nil {
		return err
	}
	if len(req.Blocks) > core.MaxReferenceBlocks {
		return core.Invalidf(op, "blocks", "at most %d blocks per part; got %d", core.MaxReferenceBlocks, len(req.Blocks))
	}
	blocks := make([]core.Block, len(req.Blocks))
	for i, b := range req.Blocks {
		h, err := parseHash(op, "blocks", i, b.Hash)
		if err != nil {
			return err
		}
		blocks[i] = core.Block{Hash: h, Off: b.Offset, Len: b.Length}
	}
	pt, err := s.svc.PartByReference(c.UserContext(), contentAuth(c), p, param(c, "package_id"), param(c, "file_id"), req.UploadID, n, blocks)
	if err != nil {
		return err
	}
	etag := `"` + pt.ETag + `"`
	c.Set(fiber.HeaderETag, etag)
	return c.JSON(ByReferenceResponse{PartNumber: pt.PartNumber, ETag: etag, Size: pt.Size})
}
