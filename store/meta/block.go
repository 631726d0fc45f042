package meta

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// The block index lives under its own prefix, "blk/<team id>/" followed
// by the 32 raw bytes of the block's address, so it can be dropped and
// rebuilt from the segments alone (haul fsck --rebuild-index). Its values
// use a compact binary codec, not JSON: there is one entry per stored
// block, and it must stay well under 200 bytes.
//
// Value layout (version 1):
//
//	byte     version (1)
//	uvarint  block length
//	byte     data shards
//	byte     parity shards
//	uvarint  reference count
//	per shard (data + parity of them):
//	  byte     data directory index
//	  uvarint  segment number
//	  uvarint  record offset in the segment
//
// Version 2 (schema 4 on) is version 1 followed by the block's IEEE CRC-32
// (4 bytes, little-endian); it is written for entries that know it
// (core.BlockEntry.HasCRC), version 1 for the others.
const blockPrefix = "blk/"

const (
	blockCodecV1 = 1
	blockCodecV2 = 2 // with the CRC-32
)

func blockKey(teamID string, h core.Hash) []byte {
	k := make([]byte, 0, len(blockPrefix)+len(teamID)+1+len(h))
	k = append(k, blockPrefix...)
	k = append(k, teamID...)
	k = append(k, '/')
	return append(k, h[:]...)
}

// EncodeBlockEntry is the index's codec, exported for fuzzing and tools.
func EncodeBlockEntry(e *core.BlockEntry) []byte {
	b := make([]byte, 0, 12+len(e.Shards)*12)
	v := byte(blockCodecV1)
	if e.HasCRC {
		v = blockCodecV2
	}
	b = append(b, v)
	b = binary.AppendUvarint(b, uint64(e.Len))
	b = append(b, e.Data, e.Parity)
	b = binary.AppendUvarint(b, uint64(e.Refs))
	for _, s := range e.Shards {
		b = append(b, s.Dir)
		b = binary.AppendUvarint(b, uint64(s.Seg))
		b = binary.AppendUvarint(b, uint64(s.Off))
	}
	if e.HasCRC {
		b = binary.LittleEndian.AppendUint32(b, e.CRC)
	}
	return b
}

// DecodeBlockEntry parses what EncodeBlockEntry made; it never panics on
// damaged input.
func DecodeBlockEntry(b []byte) (*core.BlockEntry, error) {
	bad := func(what string) error { return fmt.Errorf("block entry: bad %s", what) }
	if len(b) < 1 || (b[0] != blockCodecV1 && b[0] != blockCodecV2) {
		return nil, bad("version")
	}
	withCRC := b[0] == blockCodecV2
	b = b[1:]
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, bad(what)
		}
		b = b[n:]
		return v, nil
	}
	var e core.BlockEntry
	l, err := uv("length")
	if err != nil || l > 1<<40 {
		return nil, bad("length")
	}
	e.Len = int64(l)
	if len(b) < 2 {
		return nil, bad("geometry")
	}
	e.Data, e.Parity = b[0], b[1]
	b = b[2:]
	if e.Data == 0 {
		return nil, bad("geometry")
	}
	refs, err := uv("reference count")
	if err != nil || refs > 1<<62 {
		return nil, bad("reference count")
	}
	e.Refs = int64(refs)
	n := int(e.Data) + int(e.Parity)
	e.Shards = make([]core.ShardLoc, n)
	for i := range n {
		if len(b) < 1 {
			return nil, bad("shard")
		}
		e.Shards[i].Dir = b[0]
		b = b[1:]
		seg, err := uv("segment")
		if err != nil || seg > 1<<32-1 {
			return nil, bad("segment")
		}
		off, err := uv("offset")
		if err != nil || off > 1<<62 {
			return nil, bad("offset")
		}
		e.Shards[i].Seg, e.Shards[i].Off = uint32(seg), int64(off)
	}
	if withCRC {
		if len(b) < 4 {
			return nil, bad("crc")
		}
		e.CRC, e.HasCRC = binary.LittleEndian.Uint32(b), true
		b = b[4:]
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return &e, nil
}

func (t *tx) Block(teamID string, h core.Hash) (*core.BlockEntry, error) {
	const op = "meta.block"
	item, err := t.txn.Get(blockKey(teamID, h))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, notFound(op, "block "+h.Short())
	}
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	var e *core.BlockEntry
	err = item.Value(func(v []byte) error {
		var derr error
		e, derr = DecodeBlockEntry(v)
		return derr
	})
	if err != nil {
		return nil, &core.Error{Op: op, Kind: core.Corrupt, Msg: "block index entry is damaged; run haul fsck --rebuild-index", Err: err}
	}
	return e, nil
}

func (t *tx) HasBlock(teamID string, h core.Hash) (bool, error) {
	var k [64 + len(blockPrefix) + 1 + 32]byte
	key := append(append(append(append(k[:0], blockPrefix...), teamID...), '/'), h[:]...)
	_, err := t.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, core.Wrap("meta.has_block", err)
	}
	return true, nil
}

func (t *tx) PutBlock(teamID string, h core.Hash, e *core.BlockEntry) error {
	const op = "meta.put_block"
	if err := checkID(op, "team id", teamID); err != nil {
		return err
	}
	if int(e.Data)+int(e.Parity) != len(e.Shards) || e.Data == 0 || e.Refs < 0 || e.Len < 0 {
		return core.Invalidf(op, "", "block entry geometry %d+%d does not match %d shards", e.Data, e.Parity, len(e.Shards))
	}
	return core.Wrap(op, t.txn.Set(blockKey(teamID, h), EncodeBlockEntry(e)))
}

func (t *tx) DeleteBlock(teamID string, h core.Hash) error {
	const op = "meta.delete_block"
	k := blockKey(teamID, h)
	if _, err := t.txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
		return notFound(op, "block "+h.Short())
	} else if err != nil {
		return core.Wrap(op, err)
	}
	if err := t.deleteBlockCVs(op, teamID, h); err != nil {
		return err
	}
	return core.Wrap(op, t.txn.Delete(k))
}

func (t *tx) Blocks(fn func(teamID string, h core.Hash, e *core.BlockEntry) bool) error {
	const op = "meta.blocks"
	p := []byte(blockPrefix)
	it := t.iterator(p, false, true)
	defer it.Close()
	for it.Seek(p); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		rest := k[len(blockPrefix):]
		if len(rest) < 1+32 || rest[len(rest)-33] != '/' {
			return &core.Error{Op: op, Kind: core.Corrupt, Msg: "malformed block index key"}
		}
		teamID := string(rest[:len(rest)-33])
		var h core.Hash
		copy(h[:], rest[len(rest)-32:])
		var e *core.BlockEntry
		if err := item.Value(func(v []byte) error {
			var derr error
			e, derr = DecodeBlockEntry(v)
			return derr
		}); err != nil {
			return &core.Error{Op: op, Kind: core.Corrupt, Msg: "block index entry is damaged; run haul fsck --rebuild-index", Err: err}
		}
		if !fn(teamID, h, e) {
			return nil
		}
	}
	return nil
}

// DropBlockIndex deletes every block index entry (for haul fsck
// --rebuild-index, server stopped).
func (db *DB) DropBlockIndex() error {
	return core.Wrap("meta.drop_block_index", db.bdb.DropPrefix([]byte(blockPrefix)))
}
