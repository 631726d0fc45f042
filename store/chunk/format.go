package chunk

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"haul/core"
)

// Record layout. Every shard is stored as one record in a segment file,
// starting at a multiple of align, so a scanner can find records again by
// probing aligned offsets for the magic. All integers are little-endian.
//
//	offset size  field
//	0      8     magic "HAULSHRD"
//	8      1     record version (2)
//	9      1     shard index (0 .. data+parity-1)
//	10     1     data shards of the block
//	11     1     parity shards of the block
//	12     4     shard length in bytes (the data that follows the header)
//	16     8     block length in bytes
//	24     32    team id (ULID text, zero padded)
//	56     32    block address (keyed BLAKE3-256)
//	88     4     CRC-32C (Castagnoli) of the shard data
//	92     32    reserved, zero
//	124    4     CRC-32C of bytes 0..124 of the header
//	128    3968  zero (the rest of the header page)
//	4096   n     shard data, then zero padding to a multiple of align
//
// The header fills a whole 4 KiB page so that a record's shard data is
// page aligned: an O_DIRECT vector write can take a full block's data
// shards straight from the block buffer, without copying them.
const (
	headerLen     = 128  // bytes of header fields
	headerSize    = 4096 // the header page; shard data starts here
	align         = 4096
	recordVersion = 2
)

var magic = [8]byte{'H', 'A', 'U', 'L', 'S', 'H', 'R', 'D'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is a record's header, decoded.
type header struct {
	Shard    uint8
	Data     uint8
	Parity   uint8
	ShardLen uint32
	BlockLen uint64
	Team     string
	Hash     core.Hash
	DataCRC  uint32
}

// errNoRecord says that no valid record header starts at an offset.
var errNoRecord = errors.New("no record header")

// recordSize is the space a record with n bytes of shard data takes.
func recordSize(n int) int64 { return roundUp(int64(headerSize + n)) }

func roundUp(n int64) int64 { return (n + align - 1) &^ (align - 1) }

// putHeader writes h into b[:headerSize], zeroing the rest of the page.
func putHeader(b []byte, h *header) {
	_ = b[headerSize-1]
	clear(b[headerLen:headerSize])
	copy(b[0:8], magic[:])
	b[8] = recordVersion
	b[9], b[10], b[11] = h.Shard, h.Data, h.Parity
	binary.LittleEndian.PutUint32(b[12:], h.ShardLen)
	binary.LittleEndian.PutUint64(b[16:], h.BlockLen)
	clear(b[24:56])
	copy(b[24:56], h.Team)
	copy(b[56:88], h.Hash[:])
	binary.LittleEndian.PutUint32(b[88:], h.DataCRC)
	clear(b[92:124])
	binary.LittleEndian.PutUint32(b[124:], crc32.Checksum(b[:124], castagnoli))
}

// parseHeader decodes and checks a header; it never panics on damaged
// input and returns errNoRecord when b does not hold a valid header.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerLen || [8]byte(b[0:8]) != magic || b[8] != recordVersion {
		return h, errNoRecord
	}
	if binary.LittleEndian.Uint32(b[124:]) != crc32.Checksum(b[:124], castagnoli) {
		return h, errNoRecord
	}
	h.Shard, h.Data, h.Parity = b[9], b[10], b[11]
	h.ShardLen = binary.LittleEndian.Uint32(b[12:])
	h.BlockLen = binary.LittleEndian.Uint64(b[16:])
	team := b[24:56]
	n := 0
	for n < len(team) && team[n] != 0 {
		n++
	}
	h.Team = string(team[:n])
	copy(h.Hash[:], b[56:88])
	h.DataCRC = binary.LittleEndian.Uint32(b[88:])
	if h.Data == 0 || int(h.Shard) >= int(h.Data)+int(h.Parity) ||
		uint64(h.ShardLen) != shardLen(int64(h.BlockLen), int(h.Data)) {
		return h, errNoRecord
	}
	return h, nil
}

// shardLen is the length of each shard of a block of n bytes cut into
// data shards (the last data shard is zero padded). An empty block still
// has one-byte shards, so every block has records to find.
func shardLen(n int64, data int) uint64 {
	s := (n + int64(data) - 1) / int64(data)
	if s == 0 {
		s = 1
	}
	return uint64(s)
}
