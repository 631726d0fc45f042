// Package chunk is haul's local chunk store: file data kept as
// content-addressed, parity-protected blocks in append-only segment files,
// with the block index in the metadata store (store/meta).
//
// Words used here:
//
//   - Block: a piece of one file, cut at file offsets that are multiples
//     of the block size (4 MiB by default); a part whose edges fall inside
//     a block yields shorter blocks at its edges. Its address is the keyed
//     BLAKE3-256 of its bytes, keyed per team, so a team's identical blocks
//     are stored once and teams never share blocks.
//   - Shard: one of the data+parity pieces of a block (klauspost
//     Reed-Solomon). Data shard i holds bytes [i*s, (i+1)*s) of the block,
//     s = ceil(len/data), the last one zero padded.
//   - Stream: the append-only sequence of segments holding shard index i
//     of the blocks placed in one data directory. Shard i of a new block
//     goes to directory i mod dirs, stream i; so damage to one segment
//     costs any block at most one shard, and reading the data shards of a
//     range is sequential per stream.
//   - Segment: one file of a stream, "s<iii>-<nnnnnnnn>.seg" (shard index,
//     segment number), closed at about SegmentSize (1 GiB) and never
//     rewritten; compaction copies its live records forward and deletes it.
//   - Record: one shard in a segment: a 4 KiB header page holding 128
//     bytes of self-describing fields (format.go: magic, version, shard
//     index, geometry, lengths, team, block address, data CRC-32C, header
//     CRC-32C), then the shard data, padded to 4 KiB, so records start at
//     aligned offsets, O_DIRECT writes are possible and data shards go out
//     straight from the block buffer. The index can be rebuilt from
//     records alone.
//   - Marker: haul-chunks.json in each data directory (store id, directory
//     index, block size). A directory without it is refused, never refilled
//     silently: an unmounted disk looks like an empty directory.
//   - Chaining values: the unkeyed BLAKE3 subtree values of a block at its
//     file offset, computed at ingest (a second hash pass) and kept in the
//     file's block list, so a file's digest (what b3sum prints) is
//     assembled at finalize from them and the last block alone.
//
// Write path (Ingest): read a block and compute its address, then look it
// up (one read transaction): a block the team stores at an offset where a
// finalized file held it takes its chaining values and CRC-32 from the
// index; any other gets them computed by the CV stage (another goroutine,
// overlapping the next block's read and hash). A block the team does not
// store is then encoded and one record per shard appended to its stream
// (in parallel, O_DIRECT where the file system allows), and at the end of
// the ingest every touched stream is fsynced once (group commit). Nothing is referenced until the
// caller's metadata transaction runs Commit: a crash before that leaves
// unreferenced records (garbage), never a reference to missing data.
//
// Fsync order: records appended → segment fsync (and the directory, when a
// segment is created) → Badger transaction that references them → the
// part is acknowledged.
//
// Read path (ReadRange): look the block up in the index, read only the
// data shards covering the range, check header and CRC. Any bad shard
// switches to reconstruction: read all shards, rebuild from parity, check
// the whole block against its address (the one place a block's hash is
// verified on read), answer, then append fresh records for the bad shards
// and repoint the index (only where it still points at the bad copy).
package chunk
