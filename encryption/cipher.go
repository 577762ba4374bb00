package encryption

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// KeySize is the size of a data encryption key (DEK): AES-256.
const KeySize = 32

// Layout of a sealed message, format version 1:
//
//	version (1) | key ID (4) | nonce (12) | AES-256-GCM ciphertext and tag
//
// The version and key ID are authenticated as additional data. The key ID
// is a hash of the key: it lets Open tell "wrong key" from "corrupt data",
// which matters while data keys are rotated.
const (
	sealVersion = 1
	keyIDSize   = 4
	nonceSize   = 12
	tagSize     = 16
	sealHeader  = 1 + keyIDSize + nonceSize

	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = sealHeader + tagSize
)

// Encrypter seals data. Implementations must be safe for concurrent use.
type Encrypter interface {
	// Seal encrypts and authenticates plaintext and returns a new slice;
	// plaintext is not modified.
	Seal(plaintext []byte) []byte
}

// Decrypter opens what the matching Encrypter sealed. Implementations must
// be safe for concurrent use.
type Decrypter interface {
	// Open authenticates and decrypts ciphertext and returns a new slice.
	Open(ciphertext []byte) ([]byte, error)
}

// Cipher is AES-256-GCM over one data key, with a random 96-bit nonce per
// message. Random nonces stay safe for about 2^32 messages per key, far
// more than a Raft log holds between key rotations. A Cipher is safe for
// concurrent use.
type Cipher struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
}

var (
	_ Encrypter = (*Cipher)(nil)
	_ Decrypter = (*Cipher)(nil)
)

// GenerateDEK returns a new random data encryption key.
func GenerateDEK() []byte {
	k := make([]byte, KeySize)
	randRead(k)
	return k
}

// randRead fills b with random bytes. crypto/rand.Read never returns an
// error since Go 1.24: it crashes the program rather than hand out
// predictable bytes.
func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("encryption: no randomness: " + err.Error())
	}
}

// NewCipher returns a Cipher for a KeySize-byte data key. The key is copied.
func NewCipher(dek []byte) (*Cipher, error) {
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead, keyID: keyID(dek)}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return aead, nil
}

// keyID names a key without revealing it: a truncated hash, domain
// separated so that it is never equal to any other hash of the key.
func keyID(key []byte) [keyIDSize]byte {
	h := sha256.New()
	h.Write([]byte("shoal encryption key id v1\x00"))
	h.Write(key)
	var id [keyIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Seal implements Encrypter.
func (c *Cipher) Seal(plaintext []byte) []byte {
	out := make([]byte, sealHeader, sealHeader+len(plaintext)+tagSize)
	out[0] = sealVersion
	copy(out[1:], c.keyID[:])
	nonce := out[1+keyIDSize : sealHeader]
	randRead(nonce)
	return c.aead.Seal(out, nonce, plaintext, out[:1+keyIDSize])
}

// Open implements Decrypter. It fails with ErrTruncated, ErrUnknownVersion,
// ErrWrongKey or ErrCorrupt.
func (c *Cipher) Open(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrTruncated)
	}
	if ciphertext[0] != sealVersion {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, ciphertext[0])
	}
	if len(ciphertext) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, at least %d needed", ErrTruncated, len(ciphertext), Overhead)
	}
	if subtle.ConstantTimeCompare(ciphertext[1:1+keyIDSize], c.keyID[:]) != 1 {
		return nil, ErrWrongKey
	}
	nonce := ciphertext[1+keyIDSize : sealHeader]
	plaintext, err := c.aead.Open(nil, nonce, ciphertext[sealHeader:], ciphertext[:1+keyIDSize])
	if err != nil {
		return nil, ErrCorrupt
	}
	return plaintext, nil
}
