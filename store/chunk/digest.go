package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"

	zeebo "github.com/zeebo/blake3"
	"lukechampine.com/blake3/guts"

	"haul/core"
)

// File digests. A file's digest is the unkeyed BLAKE3-256 of its bytes (what
// b3sum prints). BLAKE3 cuts its input into 1 KiB chunks (chunk i starts at
// byte i*1024 and is compressed with counter i) and hashes them as a
// left-complete binary tree, so any run of whole chunks at a chunk-aligned
// offset splits into aligned power-of-two subtrees ("eigentrees") whose
// chaining values (CVs) do not depend on anything outside the run. Ingest
// records those CVs with each block (core.Block.CVs); at finalize fileDigest
// combines them, reading only the last block's bytes, since the final chunk
// and the root must be compressed with flags that depend on where the file
// ends.

// errNeedFullRead says the digest cannot be assembled from the blocks' CVs
// (a block other than the last has none, because its edges are not on
// chunk boundaries): the caller must read the whole file (digestReader).
var errNeedFullRead = errors.New("file digest: a block has no chaining values; read the file")

const (
	cvChunk  = guts.ChunkSize                // bytes per BLAKE3 chunk
	cvPiece  = guts.MaxSIMD * guts.ChunkSize // bytes per CompressBuffer call
	cvPieceH = 4                             // height of a piece's subtree: 16 chunks
	cvStackN = 64                            // subtree stack depth: one per bit of a chunk count
)

// cvHasher computes chaining values; reusable, not safe for concurrent use.
// Its zero value is ready. It computes each eigentree one 16-chunk piece at a
// time on the calling goroutine (guts.CompressBuffer, SIMD across the
// piece's chunks) and merges the pieces' CVs itself, allocating nothing.
type cvHasher struct {
	piece [cvPiece]byte       // copy of a tree shorter than a piece near buf's end
	stack [cvStackN][8]uint32 // CVs of pieces not yet merged, within one tree
}

// treeHeight returns the height of the eigentree that starts at chunk i of a
// run of chunks ending at chunk end (exclusive, i < end): the largest h with
// i a multiple of 2^h and i+2^h <= end.
func treeHeight(i, end uint64) int {
	return min(bits.TrailingZeros64(i), bits.Len64(end-i)-1)
}

// countTrees returns how many eigentrees cover chunks [i, end).
func countTrees(i, end uint64) int {
	n := 0
	for i < end {
		i += 1 << treeHeight(i, end)
		n++
	}
	return n
}

// blockCVs returns the chaining values of the eigentrees covering buf at file
// offset off, in order, appended to dst. It returns nil (and ok=false) when
// off is not a multiple of 1024 or len(buf) is not a multiple of 1024 (a
// block ending inside a chunk can't contribute CVs; the last block of a file
// is handled by fileDigest from its bytes). Empty buf: ok=true, no CVs.
//
// It allocates only when dst lacks capacity; a 4 MiB block at a 4 MiB
// multiple is a single eigentree, so one CV.
func (c *cvHasher) blockCVs(dst []core.Hash, buf []byte, off int64) ([]core.Hash, bool) {
	if off < 0 || off%cvChunk != 0 || len(buf)%cvChunk != 0 || off > math.MaxInt64-int64(len(buf)) {
		return nil, false
	}
	buf = buf[:len(buf):len(buf)] // never read past the block, even where CompressBuffer could
	i := uint64(off) / cvChunk
	end := i + uint64(len(buf))/cvChunk
	for i < end {
		h := treeHeight(i, end)
		n := cvChunk << h
		dst = append(dst, cvHash(c.tree(buf[:n], i, h)))
		buf = buf[n:]
		i += 1 << h
	}
	return dst, true
}

// tree returns the chaining value of the eigentree of height h made of the
// 2^h whole chunks in buf (len(buf) == 1024<<h), the first being chunk i of
// the file.
func (c *cvHasher) tree(buf []byte, i uint64, h int) [8]uint32 {
	if h <= cvPieceH {
		// CompressBuffer reads a whole piece whatever buflen says: pass buf
		// itself when a piece's worth of it is there, else a copy.
		var p *[cvPiece]byte
		if cap(buf) >= cvPiece {
			p = (*[cvPiece]byte)(buf[:cvPiece])
		} else {
			copy(c.piece[:], buf)
			p = &c.piece
		}
		return guts.ChainingValue(guts.CompressBuffer(p, len(buf), &guts.IV, i, 0))
	}
	// 2^(h-4) pieces, merged as they come: after piece k (counting from 1)
	// the stack holds one CV per set bit of k, as in BLAKE3's own hasher.
	sp := 0
	for k := uint64(1); len(buf) > 0; k++ {
		cv := guts.ChainingValue(guts.CompressBuffer((*[cvPiece]byte)(buf[:cvPiece]), cvPiece, &guts.IV, i, 0))
		for t := k; t&1 == 0; t >>= 1 {
			sp--
			cv = guts.ChainingValue(guts.ParentNode(c.stack[sp], cv, &guts.IV, 0))
		}
		c.stack[sp] = cv
		sp++
		buf = buf[cvPiece:]
		i += guts.MaxSIMD
	}
	return c.stack[0]
}

// cvHash packs a chaining value as 32 bytes, little-endian words.
func cvHash(cv [8]uint32) (h core.Hash) {
	for j, w := range cv {
		binary.LittleEndian.PutUint32(h[4*j:], w)
	}
	return h
}

// hashCV unpacks cvHash.
func hashCV(h core.Hash) (cv [8]uint32) {
	for j := range cv {
		cv[j] = binary.LittleEndian.Uint32(h[4*j:])
	}
	return cv
}

// cvStack is BLAKE3's subtree stack: the CVs of the aligned subtrees
// covering the chunks so far, heights strictly decreasing. Pushing a subtree
// merges equal heights at once (binary carry); that is safe because the
// file's final chunk is never pushed, so no merge can make the root.
type cvStack struct {
	cv [cvStackN][8]uint32
	h  [cvStackN]int
	n  int
}

func (s *cvStack) push(cv [8]uint32, h int) {
	for s.n > 0 && s.h[s.n-1] == h {
		s.n--
		cv = guts.ChainingValue(guts.ParentNode(s.cv[s.n], cv, &guts.IV, 0))
		h++
	}
	s.cv[s.n], s.h[s.n] = cv, h
	s.n++
}

// fileDigest assembles the BLAKE3 digest of a file from its blocks in file
// order (contiguous, starting at 0). Every block but the last must have CVs
// (as made by blockCVs for that block's bytes and offset); the last block's
// bytes are given as last (len(last) == last block's Len). It returns
// errNeedFullRead if a non-final block has no CVs (or, degenerate, the last
// block is empty but earlier ones are not: the final chunk's bytes are then
// missing), and another error if the blocks are not contiguous from 0, last
// has the wrong length, or a block's CV count does not match its extent.
// No blocks is the empty file.
func fileDigest(blocks []core.Block, last []byte) (core.Hash, error) {
	if len(blocks) == 0 {
		if len(last) != 0 {
			return core.Hash{}, fmt.Errorf("file digest: %d bytes of last block but no blocks", len(last))
		}
		return zeebo.Sum256(nil), nil
	}
	var off int64
	for k, b := range blocks {
		if b.Off != off || b.Len < 0 || b.Off > math.MaxInt64-b.Len {
			return core.Hash{}, fmt.Errorf("file digest: block %d at [%d, +%d) does not follow at %d", k, b.Off, b.Len, off)
		}
		off += b.Len
	}
	lb := blocks[len(blocks)-1]
	if int64(len(last)) != lb.Len {
		return core.Hash{}, fmt.Errorf("file digest: last block has %d bytes, want %d", len(last), lb.Len)
	}
	size := off
	if size == 0 {
		return zeebo.Sum256(nil), nil
	}

	var s cvStack
	for k, b := range blocks[:len(blocks)-1] {
		if b.Off%cvChunk != 0 || b.Len%cvChunk != 0 {
			return core.Hash{}, errNeedFullRead
		}
		i, end := uint64(b.Off)/cvChunk, uint64(b.Off+b.Len)/cvChunk
		if want := countTrees(i, end); len(b.CVs) != want {
			if len(b.CVs) == 0 {
				return core.Hash{}, errNeedFullRead
			}
			return core.Hash{}, fmt.Errorf("file digest: block %d at [%d, +%d) has %d CVs, want %d", k, b.Off, b.Len, len(b.CVs), want)
		}
		for _, h := range b.CVs {
			ht := treeHeight(i, end)
			s.push(hashCV(h), ht)
			i += 1 << ht
		}
	}

	// The final chunk: the file's last 1..1024 bytes. It must lie in the
	// last block, whose whole chunks before it are pushed as subtrees.
	final := uint64(size-1) / cvChunk
	if lb.Len == 0 || lb.Off%cvChunk != 0 {
		// Empty last block after non-empty ones (the final chunk is in a
		// block we have no bytes of), or a last block starting inside a
		// chunk (so the one before it had no CVs and failed above).
		return core.Hash{}, errNeedFullRead
	}
	var c cvHasher
	i := uint64(lb.Off) / cvChunk
	buf := last[:len(last):len(last)]
	for i < final {
		h := treeHeight(i, final)
		n := cvChunk << h
		s.push(c.tree(buf[:n], i, h), h)
		buf = buf[n:]
		i += 1 << h
	}
	node := guts.CompressChunk(buf, &guts.IV, final, 0)
	for s.n > 0 {
		s.n--
		node = guts.ParentNode(s.cv[s.n], guts.ChainingValue(node), &guts.IV, 0)
	}
	node.Flags |= guts.FlagRoot
	out := guts.CompressNode(node)
	return cvHash([8]uint32(out[:8])), nil
}

// digestReader computes the digest of everything r yields, by streaming: the
// fallback when fileDigest says errNeedFullRead.
func digestReader(r io.Reader) (core.Hash, error) {
	h := zeebo.New()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(h, r, buf); err != nil {
		return core.Hash{}, err
	}
	var d core.Hash
	h.Sum(d[:0])
	return d, nil
}
