package core

import (
	"context"
	"crypto/rand"
	"io"
)

// TeamKey scopes the chunk store to one team: blocks are addressed by
// BLAKE3 keyed with Key, so teams never share blocks and no team can probe
// what another stores.
type TeamKey struct {
	TeamID string
	Key    [32]byte
}

// NewBlockKey returns a random key for a team's block addresses.
func NewBlockKey() Hash {
	var h Hash
	if _, err := rand.Read(h[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return h
}

// TeamKeyOf returns the chunk-store scope of a team.
func TeamKeyOf(t *Team) TeamKey { return TeamKey{TeamID: t.ID, Key: t.BlockKey} }

// Block is one block of a file, as a file record lists it.
type Block struct {
	// Hash is the block's address: keyed BLAKE3-256 of its bytes.
	Hash Hash `json:"h"`
	// Off is the block's offset in its file; blocks are cut at multiples of
	// the store's block size, and shorter at the edges of parts.
	Off int64 `json:"o"`
	// Len is the block's length in bytes.
	Len int64 `json:"l"`
	// CVs are the unkeyed BLAKE3 chaining values of the block's eigentrees
	// at Off, from which the file's digest is assembled without reading it
	// again. Nil when the block's edges are not on 1 KiB chunk boundaries.
	CVs []Hash `json:"c,omitempty"`
	// CRC is the block's IEEE CRC-32, from which a file's CRC-32 (the zip
	// of a package needs it) is combined without reading the file; nil
	// when unknown (blocks stored before haul recorded it).
	CRC *uint32 `json:"r,omitempty"`
}

// ShardLoc says where one shard of a block lives: data directory, segment
// number (within the shard's stream) and byte offset of its record.
type ShardLoc struct {
	Dir uint8
	Seg uint32
	Off int64
}

// ObjectShard is the one "shard" of a block kept whole as an object of an
// object store (the S3 backend): the object's name derives from the team
// and the block's address, so nothing else is recorded.
var ObjectShard = ShardLoc{Dir: 0xFF}

// BlockEntry is the block index's record of one stored block.
type BlockEntry struct {
	Len    int64 // block length in bytes
	Data   uint8 // data shards
	Parity uint8 // parity shards
	Refs   int64 // how many file records hold the block
	Shards []ShardLoc
	// CRC is the block's IEEE CRC-32 when HasCRC (entries written before
	// haul recorded it, or rebuilt from the segments, have none).
	CRC    uint32
	HasCRC bool
}

// BlockTx is the block index, in the metadata store so that reference
// counts change in the same transaction as the records that hold them.
type BlockTx interface {
	Block(teamID string, h Hash) (*BlockEntry, error)
	// HasBlock reports whether the block is indexed, cheaply (no decode,
	// no error for absence): ingest asks it for every block.
	HasBlock(teamID string, h Hash) (bool, error)
	PutBlock(teamID string, h Hash, e *BlockEntry) error
	DeleteBlock(teamID string, h Hash) error
	// Blocks calls fn for every indexed block, in key order, until fn
	// returns false.
	Blocks(fn func(teamID string, h Hash, e *BlockEntry) bool) error
}

// BlockCVTx keeps the server's own chaining values of blocks (Block.CVs),
// by team, block address and file offset: they depend only on the block's
// bytes, which its address names within a team, and on its offset. A file
// finalized from uploaded parts saves its blocks' CVs (computed at ingest);
// a part by reference, whose client's CVs are never trusted, takes them
// from here, so finalize can assemble the digest without reading the file.
// Entries go with the block's index entry (DeleteBlock).
type BlockCVTx interface {
	// BlockCVs returns the CVs stored for the block at off, or NotFound.
	BlockCVs(teamID string, h Hash, off int64) ([]Hash, error)
	PutBlockCVs(teamID string, h Hash, off int64, cvs []Hash) error
}

// Ingested is the result of ingesting a stream: its blocks in file order
// and what the store wrote for them, ready to be committed.
type Ingested struct {
	Blocks []Block
	// New holds, for blocks this ingest wrote (not known to the team
	// before), their index entries; nil entries were deduplicated.
	New []*BlockEntry
	// Size is the number of bytes read.
	Size int64
}

// StorageStats are the chunk store's figures.
type StorageStats struct {
	CapacityBytes  int64   `json:"capacity_bytes"`
	FreeBytes      int64   `json:"free_bytes"`
	PhysicalBytes  int64   `json:"physical_bytes"`   // bytes in segment files
	LogicalBytes   int64   `json:"logical_bytes"`    // bytes of all file data referenced (with duplicates)
	UniqueBytes    int64   `json:"unique_bytes"`     // bytes of distinct blocks
	DedupRatio     float64 `json:"dedup_ratio"`      // logical / unique
	Blocks         int64   `json:"blocks"`           // indexed blocks
	Segments       int     `json:"segments"`         // segment files
	BlockSize      int64   `json:"block_size"`       // bytes
	DataShards     int     `json:"data_shards"`      // new blocks' geometry
	ParityShards   int     `json:"parity_shards"`    // new blocks' geometry
	DataDirs       int     `json:"data_dirs"`        // directories
	UnreadableDirs int     `json:"unreadable_dirs"`  // directories that could not be read (a dead disk?)
	DirLossSurvive int     `json:"dir_loss_survive"` // whole directories the geometry survives losing
	Repairs        int64   `json:"repairs"`          // shards rebuilt since start
	ScrubProgress  float64 `json:"scrub_progress"`   // 0..1 of the current pass
}

// ChunkStore keeps file data as content-addressed, parity-protected blocks.
//
// Contract:
//   - Ingest reads r to EOF as the file's bytes from offset off, cuts them
//     into blocks at multiples of the block size, and writes the blocks the
//     team does not already store. When it returns, everything it wrote is
//     durable (fsynced) but nothing is referenced: the caller commits the
//     result with Commit inside the transaction that records the part, so
//     an ingest never committed leaves only garbage for GC. It holds at
//     most a few blocks in memory whatever the stream's length.
//   - Commit and Release change reference counts inside the caller's
//     transaction, in either order: a block released to zero stays indexed
//     (at zero) until compaction frees it, so releasing a part and
//     committing its re-sent copy in one transaction works. Commit of a
//     deduplicated block whose entry has vanished (compaction freed it
//     meanwhile) fails with Conflict: ingest again.
//   - ReadRange writes exactly bytes [off, off+n) of the file whose blocks
//     are given to w, verifying each shard read; damage is repaired from
//     parity transparently. A block that cannot be rebuilt is Corrupt.
//   - Has reports whether the team stores a block.
//   - Digest returns the BLAKE3-256 of the file whose blocks are given (in
//     file order, contiguous from 0), what b3sum prints.
//   - All methods are safe for concurrent use.
type ChunkStore interface {
	Ingest(ctx context.Context, team TeamKey, off int64, r io.Reader) (*Ingested, error)
	Commit(tx Tx, team TeamKey, in *Ingested) error
	Release(tx Tx, team TeamKey, blocks []Block) error
	ReadRange(ctx context.Context, team TeamKey, blocks []Block, off, n int64, w io.Writer) error
	Has(ctx context.Context, team TeamKey, h Hash) (bool, error)
	Digest(ctx context.Context, team TeamKey, blocks []Block) (Hash, error)
	Stats(ctx context.Context) (StorageStats, error)
}
