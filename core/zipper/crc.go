package zipper

// crcPoly is the IEEE CRC-32 polynomial in reflected (LSB-first) form, the
// one hash/crc32.IEEE and zip use.
const crcPoly = 0xedb88320

// x2nTable[k] holds x^(2^k) mod P(x) for k = 0..31. Because the
// multiplicative order of x modulo P(x) divides 2^32-1, x^(2^32) = x, so
// the table repeats with period 32 and any power of two can be looked up as
// x2nTable[k&31] (the same observation zlib's crc32_combine relies on).
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < len(t); k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()

// multModP returns a·b mod P(x), with polynomials in the reflected bit order
// of CRC registers (bit 31 is x^0).
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nModP returns x^(n·2^k) mod P(x) by square-and-multiply over the bits
// of n, in O(log n) multiplications.
func x2nModP(n uint64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		k++
	}
	return p
}

// CombineCRC32 returns the IEEE CRC-32 of A||B given crcA = crc(A),
// crcB = crc(B) and lenB = len(B), without the bytes themselves; it is
// zlib's crc32_combine. It runs in O(log lenB), so the CRC of a file
// assembled from stored chunks, or of gigabytes of zeros, costs next to
// nothing. A lenB <= 0 is taken as an empty B (the result is then crcA
// when crcB is the CRC of the empty string, 0).
//
// Why it works: the pre- and post-conditioning of CRC-32 cancel out when
// the two CRCs are xored, leaving crc(A)·x^(8·lenB) mod P to be added to
// crc(B).
func CombineCRC32(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA ^ crcB
	}
	// x^(8·lenB) = x^(lenB·2^3).
	return multModP(x2nModP(uint64(lenB), 3), crcA) ^ crcB
}
