package meta

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"haul/core"
)

// Block chaining values live under "bcv/<team id>/" followed by the 32 raw
// bytes of the block's address, "/" and the block's file offset as 8
// big-endian bytes. The value is the block's CVs (core.Block.CVs), 32 bytes
// each, concatenated. They are the server's own (computed at ingest), and
// depend only on the block's bytes, which its address names within a team,
// and on its offset; so they stay valid as long as the address does, and
// are dropped with the block's index entry (DeleteBlock).
const blockCVPrefix = "bcv/"

func blockCVKey(teamID string, h core.Hash, off int64) []byte {
	k := make([]byte, 0, len(blockCVPrefix)+len(teamID)+1+len(h)+1+8)
	k = blockCVHashPrefix(k, teamID, h)
	return binary.BigEndian.AppendUint64(k, uint64(off))
}

// blockCVHashPrefix appends "bcv/<team id>/<hash>/" to k: the prefix of
// every offset's entry of one block.
func blockCVHashPrefix(k []byte, teamID string, h core.Hash) []byte {
	k = append(k, blockCVPrefix...)
	k = append(k, teamID...)
	k = append(k, '/')
	k = append(k, h[:]...)
	return append(k, '/')
}

// errNoBlockCVs is BlockCVs' answer for CVs not stored: one value, made
// once, because ingest asks for every block it reads.
var errNoBlockCVs = notFound("meta.block_cvs", "chaining values of the block at that offset")

func (t *tx) BlockCVs(teamID string, h core.Hash, off int64) ([]core.Hash, error) {
	const op = "meta.block_cvs"
	if off < 0 {
		return nil, errNoBlockCVs
	}
	item, err := t.txn.Get(blockCVKey(teamID, h, off))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errNoBlockCVs
	}
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	var cvs []core.Hash
	err = item.Value(func(v []byte) error {
		if len(v) == 0 || len(v)%len(core.Hash{}) != 0 {
			return fmt.Errorf("chaining values: %d bytes, not a positive multiple of 32", len(v))
		}
		cvs = make([]core.Hash, len(v)/len(core.Hash{}))
		for i := range cvs {
			copy(cvs[i][:], v[i*len(core.Hash{}):])
		}
		return nil
	})
	if err != nil {
		return nil, &core.Error{Op: op, Kind: core.Corrupt, Msg: "stored chaining values are damaged", Err: err}
	}
	return cvs, nil
}

func (t *tx) PutBlockCVs(teamID string, h core.Hash, off int64, cvs []core.Hash) error {
	const op = "meta.put_block_cvs"
	if err := checkID(op, "team id", teamID); err != nil {
		return err
	}
	if off < 0 {
		return core.Invalidf(op, "offset", "offset %d is negative", off)
	}
	if len(cvs) == 0 {
		return core.Invalidf(op, "cvs", "no chaining values to store")
	}
	v := make([]byte, 0, len(cvs)*len(core.Hash{}))
	for _, cv := range cvs {
		v = append(v, cv[:]...)
	}
	return core.Wrap(op, t.txn.Set(blockCVKey(teamID, h, off), v))
}

// deleteBlockCVs removes the chaining values stored for the block at every
// offset.
func (t *tx) deleteBlockCVs(op, teamID string, h core.Hash) error {
	p := blockCVHashPrefix(nil, teamID, h)
	it := t.iterator(p, false, false)
	var keys [][]byte
	for it.Seek(p); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := t.txn.Delete(k); err != nil {
			return core.Wrap(op, err)
		}
	}
	return nil
}
