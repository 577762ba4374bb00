package encryption

import "errors"

// Errors returned by this package. Callers match them with errors.Is.
var (
	ErrKeySize        = errors.New("encryption: data key must be 32 bytes")
	ErrTruncated      = errors.New("encryption: ciphertext is truncated")
	ErrUnknownVersion = errors.New("encryption: unknown format version")
	ErrWrongKey       = errors.New("encryption: data was encrypted with a different key")
	ErrCorrupt        = errors.New("encryption: message authentication failed (data corrupted or tampered with)")

	ErrNotStream       = errors.New("encryption: input is not an encrypted stream")
	ErrStreamTruncated = errors.New("encryption: encrypted stream is truncated (no final chunk)")
	ErrTrailingData    = errors.New("encryption: unexpected data after the end of the encrypted stream")
	ErrWriterClosed    = errors.New("encryption: write to a closed stream writer")

	ErrUnlockKeyFormat  = errors.New("encryption: malformed unlock key, want SWMKEY-1-<base64 of 32 bytes>")
	ErrUnlockKeyVersion = errors.New("encryption: unsupported unlock key version")
	ErrInvalidUnlockKey = errors.New("encryption: invalid unlock key")
	ErrLocked           = errors.New("encryption: data key is locked: an unlock key is needed")
	ErrDEKFile          = errors.New("encryption: malformed data key file")
)
