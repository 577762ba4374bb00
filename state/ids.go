package state

import (
	"crypto/rand"
	"math/big"
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
	s := new(big.Int).SetBytes(b[:]).Text(36)
	for len(s) < IDLength {
		s = "0" + s
	}
	return s
}
