package model

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// bigID is the reference encoding: what NewID made with math/big.
func bigID(b [16]byte) string {
	s := new(big.Int).SetBytes(b[:]).Text(36)
	return strings.Repeat("0", IDLength-len(s)) + s
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewID()
	}
}

func TestEncodeIDMatchesBigInt(t *testing.T) {
	var ones, top [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	top[0] = 0x80
	cases := [][16]byte{{}, ones, top, {15: 1}, {15: 35}, {15: 36}, {7: 1}, {8: 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], rng.Uint64()>>rng.IntN(64))
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		cases = append(cases, b)
	}
	for _, b := range cases {
		if got, want := encodeID(b), bigID(b); got != want {
			t.Fatalf("encodeID(%x) = %q, want %q", b, got, want)
		}
	}
}

func TestNewIDFormat(t *testing.T) {
	const n = 100000
	seen := make(map[string]bool, n)
	for range n {
		id := NewID()
		if len(id) != IDLength {
			t.Fatalf("id %q has %d characters, want %d", id, len(id), IDLength)
		}
		for _, c := range []byte(id) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
				t.Fatalf("id %q has %q, want only 0-9 and a-z", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
	// 2^128 - 1, the largest: 25 digits, the first one 'f'.
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	if got := encodeID(ones); got != "f5lxx1zz5pnorynqglhzmsp33" {
		t.Fatalf("largest id %q", got)
	}
}

// BenchmarkEncodeID is NewID without the random source.
func BenchmarkEncodeID(b *testing.B) {
	b.ReportAllocs()
	id := [16]byte{0: 0xde, 5: 0xad, 9: 0xbe, 15: 0xef}
	for b.Loop() {
		_ = encodeID(id)
	}
}
