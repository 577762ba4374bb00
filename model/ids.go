package model

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// IDLength is the length of object IDs: 128 random bits in base 36, padded,
// as Docker makes them.
const IDLength = 25

// NewID returns a new random object ID.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("state: no randomness: " + err.Error())
	}
	return encodeID(b)
}

const (
	idDigits = "0123456789abcdefghijklmnopqrstuvwxyz"
	// pow36x12 is 36^12, the largest power of 36 below 2^64: a 128-bit
	// number is two divisions by it from its last digit.
	pow36x12 = 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36
)

// encodeID writes b, a big-endian 128-bit number, in base 36 with leading
// zeros to IDLength digits: 36^25 > 2^128, so 25 digits always suffice.
// It is what math/big's Text(36) gives, without its allocations: the
// number is divided by 36^12 twice with 128-by-64-bit divisions, and each
// remainder gives 12 digits with 64-bit arithmetic.
func encodeID(b [16]byte) string {
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [IDLength]byte
	i := IDLength
	for range 2 {
		var r uint64
		hi, r = bits.Div64(0, hi, pow36x12)
		lo, r = bits.Div64(r, lo, pow36x12)
		for range 12 {
			i--
			out[i] = idDigits[r%36]
			r /= 36
		}
	}
	// What is left is below 2^128 / 36^24 < 36: one digit, and hi is 0.
	out[0] = idDigits[lo]
	return string(out[:])
}
