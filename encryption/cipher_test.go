package encryption

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func mustCipher(t testing.TB, dek []byte) *Cipher {
	t.Helper()
	c, err := NewCipher(dek)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := mustCipher(t, GenerateDEK())
	for _, size := range []int{0, 1, 15, 16, 17, 1000, 1 << 20} {
		plain := bytes.Repeat([]byte{byte(size)}, size)
		sealed := c.Seal(plain)
		if len(sealed) != size+Overhead {
			t.Fatalf("sealed %d bytes into %d, want %d", size, len(sealed), size+Overhead)
		}
		if size >= 16 && bytes.Contains(sealed, plain[:16]) {
			t.Fatalf("sealed output contains the plaintext")
		}
		got, err := c.Open(sealed)
		if err != nil {
			t.Fatalf("Open(%d bytes): %v", size, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("round trip of %d bytes changed the data", size)
		}
	}
	// Fresh nonces: sealing twice gives different outputs.
	if bytes.Equal(c.Seal([]byte("x")), c.Seal([]byte("x"))) {
		t.Fatal("two seals of the same plaintext are equal")
	}
	// Seal does not modify its input.
	in := []byte("hello")
	_ = c.Seal(in)
	if string(in) != "hello" {
		t.Fatal("Seal modified its input")
	}
}

func TestOpenErrors(t *testing.T) {
	dek := GenerateDEK()
	c := mustCipher(t, dek)
	other := mustCipher(t, GenerateDEK())
	sealed := c.Seal([]byte("the raft log entry"))
	mod := func(i int, x byte) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= x
		return b
	}
	tests := []struct {
		name string
		c    *Cipher
		in   []byte
		want error
	}{
		{"valid", c, sealed, nil},
		{"empty", c, nil, ErrTruncated},
		{"version only", c, sealed[:1], ErrTruncated},
		{"header only", c, sealed[:sealHeader], ErrTruncated},
		{"one byte short of a tag", c, sealed[:Overhead-1], ErrTruncated},
		{"tag cut off", c, sealed[:len(sealed)-tagSize], ErrCorrupt},
		{"last byte cut off", c, sealed[:len(sealed)-1], ErrCorrupt},
		{"unknown version", c, mod(0, 0x03), ErrUnknownVersion},
		{"version 0", c, mod(0, sealVersion), ErrUnknownVersion},
		{"wrong key", other, sealed, ErrWrongKey},
		{"key ID altered", c, mod(1, 0x80), ErrWrongKey},
		{"nonce altered", c, mod(sealHeader-1, 1), ErrCorrupt},
		{"ciphertext altered", c, mod(sealHeader, 1), ErrCorrupt},
		{"tag altered", c, mod(len(sealed)-1, 1), ErrCorrupt},
		{"extra byte", c, append(bytes.Clone(sealed), 0), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Open(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if err != nil && got != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
}

func TestNewCipherKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewCipher(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("NewCipher(%d bytes) = %v, want ErrKeySize", n, err)
		}
	}
	if len(GenerateDEK()) != KeySize {
		t.Fatal("GenerateDEK returned a key of the wrong size")
	}
	if bytes.Equal(GenerateDEK(), GenerateDEK()) {
		t.Fatal("two generated keys are equal")
	}
}

func TestCipherConcurrentUse(t *testing.T) {
	c := mustCipher(t, GenerateDEK())
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				msg := []byte{byte(g), byte(i)}
				got, err := c.Open(c.Seal(msg))
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func FuzzOpen(f *testing.F) {
	dek := bytes.Repeat([]byte{7}, KeySize)
	c := mustCipher(f, dek)
	f.Add(c.Seal([]byte("hello")))
	f.Add([]byte{sealVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := c.Open(data)
		if err != nil {
			return
		}
		// Only genuine seals open; re-sealing what opened must round trip.
		again, err := c.Open(c.Seal(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("re-seal round trip failed: %v", err)
		}
	})
}
