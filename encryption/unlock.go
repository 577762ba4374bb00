package encryption

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
)

// Unlock keys, Docker's format: SWMKEY-1-<32 random bytes, base64 without
// padding>.
const (
	unlockKeyPrefix  = "SWMKEY-"
	unlockKeyVersion = "1"
	unlockKeySize    = 32
)

var unlockKeyEncoding = base64.RawStdEncoding.Strict()

// UnlockKey is the key that protects the managers' data keys on disk when
// autolock is on. Users keep it and give it back when a manager restarts.
// String returns the key itself; through log/slog it is redacted.
type UnlockKey struct {
	key [unlockKeySize]byte
}

var _ slog.LogValuer = (*UnlockKey)(nil)

// GenerateUnlockKey returns a new random unlock key.
func GenerateUnlockKey() *UnlockKey {
	k := &UnlockKey{}
	randRead(k.key[:])
	return k
}

// ParseUnlockKey parses a key in the form String returns. It is strict
// (callers trim what users paste); errors never quote the key.
func ParseUnlockKey(s string) (*UnlockKey, error) {
	if !strings.HasPrefix(s, unlockKeyPrefix) {
		return nil, fmt.Errorf("%w: missing the SWMKEY- prefix", ErrUnlockKeyFormat)
	}
	version, body, ok := strings.Cut(s[len(unlockKeyPrefix):], "-")
	if !ok {
		return nil, fmt.Errorf("%w: missing the version", ErrUnlockKeyFormat)
	}
	if version != unlockKeyVersion {
		return nil, fmt.Errorf("%w: %.10q, want %s", ErrUnlockKeyVersion, version, unlockKeyVersion)
	}
	if want := unlockKeyEncoding.EncodedLen(unlockKeySize); len(body) != want {
		return nil, fmt.Errorf("%w: key part is %d characters, want %d", ErrUnlockKeyFormat, len(body), want)
	}
	k := &UnlockKey{}
	if n, err := unlockKeyEncoding.Decode(k.key[:], []byte(body)); err != nil || n != unlockKeySize {
		return nil, fmt.Errorf("%w: key part is not valid base64", ErrUnlockKeyFormat)
	}
	return k, nil
}

// String returns the key in Docker's form, SWMKEY-1-....
func (k *UnlockKey) String() string {
	return unlockKeyPrefix + unlockKeyVersion + "-" + unlockKeyEncoding.EncodeToString(k.key[:])
}

// LogValue keeps the key out of logs.
func (k *UnlockKey) LogValue() slog.Value {
	return slog.StringValue(unlockKeyPrefix + unlockKeyVersion + "-<redacted>")
}

// Equal compares two keys in constant time.
func (k *UnlockKey) Equal(other *UnlockKey) bool {
	if k == nil || other == nil {
		return k == other
	}
	return subtle.ConstantTimeCompare(k.key[:], other.key[:]) == 1
}

// Wrapped key layout, version 1:
//
//	version (1) | salt (16) | nonce (12) | AES-256-GCM(DEK) and tag
//
// The key-encryption key is HKDF-SHA256(unlock key, salt): the unlock key
// is 256 random bits, so it needs no slow password hash. The version and
// salt are authenticated.
const (
	wrapVersion  = 1
	wrapSaltSize = 16
	wrapHeader   = 1 + wrapSaltSize + nonceSize
	wrappedSize  = wrapHeader + KeySize + tagSize
)

func (k *UnlockKey) kek(salt []byte) ([]byte, error) {
	kek, err := hkdf.Key(sha256.New, k.key[:], salt, "shoal encryption dek wrap v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("encryption: derive key-encryption key: %w", err)
	}
	return kek, nil
}

// WrapKey encrypts a data key with an unlock key.
func WrapKey(dek []byte, k *UnlockKey) ([]byte, error) {
	if len(dek) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(dek))
	}
	if k == nil {
		return nil, fmt.Errorf("%w: nil unlock key", ErrInvalidUnlockKey)
	}
	out := make([]byte, wrapHeader, wrappedSize)
	out[0] = wrapVersion
	randRead(out[1:wrapHeader])
	kek, err := k.kek(out[1 : 1+wrapSaltSize])
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1+wrapSaltSize:wrapHeader], dek, out[:1+wrapSaltSize]), nil
}

// UnwrapKey decrypts what WrapKey made. A wrong unlock key fails with
// ErrInvalidUnlockKey, a nil one with ErrLocked.
func UnwrapKey(blob []byte, k *UnlockKey) ([]byte, error) {
	if len(blob) == 0 {
		return nil, fmt.Errorf("%w: empty wrapped key", ErrTruncated)
	}
	if blob[0] != wrapVersion {
		return nil, fmt.Errorf("%w: wrapped key version %d", ErrUnknownVersion, blob[0])
	}
	if len(blob) != wrappedSize {
		return nil, fmt.Errorf("%w: wrapped key is %d bytes, want %d", ErrTruncated, len(blob), wrappedSize)
	}
	if k == nil {
		return nil, ErrLocked
	}
	kek, err := k.kek(blob[1 : 1+wrapSaltSize])
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, blob[1+wrapSaltSize:wrapHeader], blob[wrapHeader:], blob[:1+wrapSaltSize])
	if err != nil {
		// A corrupt blob and a wrong key are indistinguishable here; the
		// wrong key is by far the likelier.
		return nil, ErrInvalidUnlockKey
	}
	return dek, nil
}
