package core

import (
	"context"
	"fmt"
)

// Resume by content (beyond MASV). A member of a package's team may fetch
// the team's block key, hash a file's blocks as the chunk store would
// (keyed BLAKE3, blocks cut at multiples of the block size and at part
// edges), ask which blocks the team already stores, and commit a part made
// only of stored blocks by reference, so only the missing bytes travel.
// Knowing the key lets one probe what the team stores, so every step needs
// a team member's own credential (X-API-KEY or X-User-Token) with
// ActTeamBlockKey; a package token alone (a portal sender, a recipient of
// the token) never gets an answer.

// MaxKnownBlocksQuery bounds the hashes of one known_blocks call.
const MaxKnownBlocksQuery = 10000

// MaxReferenceBlocks bounds the blocks of one by-reference part: one
// transaction writes one block-index entry per block (Badger holds ~10,000
// such writes), and 8,000 entries with 15 TB offsets still fit the 1 MiB
// JSON body limit. At 4 MiB blocks that is a 31 GiB part, above
// max_chunk_size.
const MaxReferenceBlocks = 8000

// BlockKeyInfo is a team's block key and the store's block size: what a
// client needs to compute the addresses of a file's blocks.
type BlockKeyInfo struct {
	Key       Hash
	BlockSize int64
}

// contentCredential refuses principals resume by content is not for:
// only X-API-KEY and X-User-Token (not the UI's cookie session) may learn
// a team's block key.
func contentCredential(op string, p *Principal) error {
	if p == nil {
		return E(op, Unauthenticated, "resume by content needs a team member's credential: send X-API-KEY or X-User-Token (a package token alone is never enough)")
	}
	if p.Via != ViaAPIKey && p.Via != ViaUserToken {
		return E(op, Forbidden, "resume by content needs X-API-KEY or X-User-Token; a browser session cannot use it")
	}
	return nil
}

// blockSize returns the chunk store's block size, or an error when the
// store does not say it (resume by content is then not offered).
func (s *Service) blockSize(op string) (int64, error) {
	if s.chunks == nil {
		return 0, E(op, Unavailable, "the chunk store is not running")
	}
	b, ok := s.chunks.(blockSizer)
	if !ok || b.BlockSize() <= 0 {
		return 0, E(op, NotImplemented, "this chunk store does not offer resume by content")
	}
	return b.BlockSize(), nil
}

// BlockKey returns the team's block key and the block size
// (ActTeamBlockKey: owner, admins, integration managers, members).
func (s *Service) BlockKey(ctx context.Context, p *Principal, teamID string) (*BlockKeyInfo, error) {
	const op = "team.block_key"
	if err := contentCredential(op, p); err != nil {
		return nil, err
	}
	bs, err := s.blockSize(op)
	if err != nil {
		return nil, err
	}
	var out BlockKeyInfo
	err = s.store.View(ctx, func(tx Tx) error {
		a, err := s.authorize(tx, op, p, teamID, ActTeamBlockKey)
		if err != nil {
			return err
		}
		out = BlockKeyInfo{Key: a.team.BlockKey, BlockSize: bs}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return &out, nil
}

// contentAccess checks both credentials of a resume-by-content call (the
// package token of packageID, full level, and a member of the package's
// team allowed ActTeamBlockKey) and loads the open package's file.
func (s *Service) contentAccess(tx Tx, op string, auth PackageAuth, p *Principal, packageID, fileID string) (*File, TeamKey, error) {
	if err := contentCredential(op, p); err != nil {
		return nil, TeamKey{}, err
	}
	if auth.Token == "" {
		return nil, TeamKey{}, E(op, Unauthenticated, "resume by content needs the package's access_token as X-Package-Token as well as your X-API-KEY or X-User-Token")
	}
	pk, _, err := s.packageFor(tx, op, auth, packageID, needFull)
	if err != nil {
		return nil, TeamKey{}, err
	}
	a, err := s.authorize(tx, op, p, pk.TeamID, ActTeamBlockKey)
	if err != nil {
		return nil, TeamKey{}, err
	}
	if err := s.checkOpen(op, pk); err != nil {
		return nil, TeamKey{}, err
	}
	f, err := fileFor(tx, op, pk, fileID)
	if err != nil {
		return nil, TeamKey{}, err
	}
	return f, TeamKeyOf(a.team), nil
}

// KnownBlocks answers, for each block address, whether the package's team
// stores that block (at most MaxKnownBlocksQuery per call).
func (s *Service) KnownBlocks(ctx context.Context, auth PackageAuth, p *Principal, packageID, fileID string, hashes []Hash) ([]bool, error) {
	const op = "file.known_blocks"
	if len(hashes) > MaxKnownBlocksQuery {
		return nil, Invalidf(op, "hashes", "at most %d hashes per call; got %d", MaxKnownBlocksQuery, len(hashes))
	}
	if _, err := s.blockSize(op); err != nil {
		return nil, err
	}
	out := make([]bool, len(hashes))
	err := s.store.View(ctx, func(tx Tx) error {
		f, tk, err := s.contentAccess(tx, op, auth, p, packageID, fileID)
		if err != nil {
			return err
		}
		if f.State == FileFinalized {
			return &Error{Op: op, Kind: Conflict, Msg: fmt.Sprintf("file %s is already finalized", f.ID)}
		}
		for i, h := range hashes {
			if out[i], err = tx.HasBlock(tk.TeamID, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return out, nil
}

// checkReferenceLayout checks that blocks cover the part's bytes from off
// exactly, cut as Ingest cuts them: contiguous, in order, each ending at
// the next multiple of the block size except the last, which may end
// earlier; and no more than limit bytes in all. It returns the part's size.
func checkReferenceLayout(op string, blocks []Block, off, limit, bsize int64, partNumber int) (int64, error) {
	if len(blocks) == 0 {
		return 0, Invalidf(op, "blocks", "blocks is empty: a part by reference lists at least one block (upload an empty part normally)")
	}
	if len(blocks) > MaxReferenceBlocks {
		return 0, Invalidf(op, "blocks", "at most %d blocks per part; got %d", MaxReferenceBlocks, len(blocks))
	}
	pos := off
	for i, b := range blocks {
		if b.Off != pos {
			if i == 0 {
				return 0, Invalidf(op, "blocks", "blocks[0] starts at offset %d, but part %d starts at offset %d ((part_number-1) × chunk_size)", b.Off, partNumber, off)
			}
			return 0, Invalidf(op, "blocks", "blocks[%d] starts at offset %d, but blocks[%d] ends at %d: blocks must be contiguous, in file order, with no gap or overlap", i, b.Off, i-1, pos)
		}
		if b.Len <= 0 {
			return 0, Invalidf(op, "blocks", "blocks[%d] has length %d: every block has at least one byte", i, b.Len)
		}
		want := bsize - pos%bsize // Ingest ends a block at the next multiple of the block size
		switch {
		case b.Len > want:
			return 0, Invalidf(op, "blocks", "blocks[%d] at offset %d is %d bytes long and crosses the block boundary at %d: blocks end at multiples of block_size (%d) and at the part's end", i, b.Off, b.Len, pos+want, bsize)
		case b.Len < want && i < len(blocks)-1:
			return 0, Invalidf(op, "blocks", "blocks[%d] at offset %d ends at %d, before the block boundary at %d: only the part's last block may end short of a multiple of block_size (%d)", i, b.Off, pos+b.Len, pos+want, bsize)
		}
		pos += b.Len
		if pos-off > limit {
			return 0, &Error{Op: op, Kind: Invalid, Code: "EntityTooLarge", Field: "blocks",
				Msg: fmt.Sprintf("the blocks cover %d bytes or more, but part %d may hold at most %d bytes (chunk_size, or what remains of the declared size for the last part)", pos-off, partNumber, limit)}
		}
	}
	return pos - off, nil
}

// cvBatch bounds the chaining-value entries one transaction writes
// (saveBlockCVs): finalize's own transaction writes at most this many, and
// the rest of a very large file goes in further transactions of this size,
// so finalize never nears Badger's transaction limit.
const cvBatch = 1024

// saveBlockCVs stores the CVs of blocks (the server's own: a finalized
// file's) that are not stored yet, one Get per block, until it has written
// limit entries; it returns the blocks it did not get to.
func saveBlockCVs(tx Tx, teamID string, blocks []Block, limit int) ([]Block, error) {
	n := 0
	for i, b := range blocks {
		if len(b.CVs) == 0 {
			continue
		}
		_, err := tx.BlockCVs(teamID, b.Hash, b.Off)
		if err == nil {
			continue
		}
		if !Is(err, NotFound) {
			return nil, err
		}
		if n == limit {
			return blocks[i:], nil
		}
		if err := tx.PutBlockCVs(teamID, b.Hash, b.Off, b.CVs); err != nil {
			return nil, err
		}
		n++
	}
	return nil, nil
}

// saveRestBlockCVs stores the CVs saveBlockCVs did not get to within
// finalize's transaction, in batches. It is best effort: without them a
// later part by reference only costs its finalize a full read.
func (s *Service) saveRestBlockCVs(ctx context.Context, teamID string, rest []Block) {
	for len(rest) > 0 {
		var next []Block
		err := s.store.Update(ctx, func(tx Tx) error {
			var err error
			next, err = saveBlockCVs(tx, teamID, rest, cvBatch)
			return err
		})
		if err != nil {
			s.log.WarnContext(ctx, "saving blocks' chaining values", "team_id", teamID, "err", err)
			return
		}
		rest = next
	}
}

// PartByReference records part partNumber of an upload as a list of
// blocks the team already stores: nothing is read or written in the chunk
// store; one transaction checks every block is still indexed with the
// given length, takes a reference on each (ChunkStore.Commit with no new
// entries, which answers Conflict if a block vanished), releases the part
// it replaces and writes the part. The part's ETag is computed as for an
// uploaded part, so finalize treats both alike.
//
// The client's chaining values are never taken on trust (the file's
// digest must be haul's own): each block gets the CVs the server saved for
// that block at that offset when a file holding it was finalized
// (BlockCVTx), or none. A file with a block (other than its last) without
// CVs gets its digest at finalize by reading its bytes back (Digest's
// full-read path).
func (s *Service) PartByReference(ctx context.Context, auth PackageAuth, p *Principal, packageID, fileID, uploadID string, partNumber int, blocks []Block) (*Part, error) {
	const op = "file.part_by_reference"
	bsize, err := s.blockSize(op)
	if err != nil {
		return nil, err
	}
	var off, limit int64
	err = s.store.View(ctx, func(tx Tx) error {
		f, _, err := s.contentAccess(tx, op, auth, p, packageID, fileID)
		if err != nil {
			return err
		}
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		off, limit, err = s.partLimit(op, f, partNumber)
		return err
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	clean := make([]Block, len(blocks))
	for i, b := range blocks {
		clean[i] = Block{Hash: b.Hash, Off: b.Off, Len: b.Len} // never the client's CVs
	}
	size, err := checkReferenceLayout(op, clean, off, limit, bsize, partNumber)
	if err != nil {
		return nil, err
	}
	var pt *Part
	var delta int64 // bytes the upload's parts hold more than before
	err = s.store.Update(ctx, func(tx Tx) error {
		delta = size
		f, tk, err := s.contentAccess(tx, op, auth, p, packageID, fileID)
		if err != nil {
			return err
		}
		if err := uploadOf(op, f, uploadID); err != nil {
			return err
		}
		for i, b := range clean {
			e, err := tx.Block(tk.TeamID, b.Hash)
			if Is(err, NotFound) {
				return &Error{Op: op, Kind: Conflict, Code: "UnknownBlock", Field: "blocks",
					Msg: fmt.Sprintf("blocks[%d] (%s) is not stored by this team (or was freed meanwhile): upload part %d's bytes instead; nothing was committed", i, b.Hash, partNumber)}
			}
			if err != nil {
				return err
			}
			if e.Len != b.Len {
				return Invalidf(op, "blocks", "blocks[%d] (%s) is %d bytes long in the store, not %d: nothing was committed", i, b.Hash, e.Len, b.Len)
			}
			if e.HasCRC { // the store's own, as the CVs below
				crc := e.CRC
				clean[i].CRC = &crc
			} else {
				clean[i].CRC = nil
			}
		}
		// The server's own CVs, where a finalized file left them. A fresh
		// slice each attempt: Update may run this function again.
		blocks := make([]Block, len(clean))
		for i, b := range clean {
			cvs, err := tx.BlockCVs(tk.TeamID, b.Hash, b.Off)
			if err != nil && !Is(err, NotFound) {
				return err
			}
			b.CVs = cvs
			blocks[i] = b
		}
		pt = &Part{UploadID: uploadID, FileID: fileID, PartNumber: partNumber, Size: size, ETag: partETag(tk, clean), Blocks: blocks}
		// As UploadPart. A part by reference is a sign of life like an
		// uploaded one (the abandoned-upload job), and needs no new space
		// (the reservation).
		replaced, err := s.putPart(tx, tk, f, pt, &Ingested{Blocks: blocks, New: make([]*BlockEntry, len(clean)), Size: size})
		delta -= replaced
		return err
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	s.stored(fileID, delta, false)
	return pt, nil
}
