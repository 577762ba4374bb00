package encryption

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// PEM types of a data key file.
const (
	pemTypeClearDEK   = "SHOAL DATA KEY"
	pemTypeWrappedDEK = "SHOAL WRAPPED DATA KEY"
)

// SaveDEK writes a data key to path (mode 0600), in clear when unlockKey is
// nil (no autolock; the file's permissions are the only protection) or
// wrapped with unlockKey. The file is replaced atomically: written to a
// temporary file in the same directory, synced, renamed. Re-saving with
// another unlock key (or nil) is how autolock is rotated or turned off.
func SaveDEK(path string, dek []byte, unlockKey *UnlockKey) error {
	if len(dek) != KeySize {
		return fmt.Errorf("%w: got %d bytes", ErrKeySize, len(dek))
	}
	block := &pem.Block{Type: pemTypeClearDEK, Bytes: dek}
	if unlockKey != nil {
		wrapped, err := WrapKey(dek, unlockKey)
		if err != nil {
			return err
		}
		block = &pem.Block{Type: pemTypeWrappedDEK, Bytes: wrapped}
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(block)); err != nil {
		return fmt.Errorf("encryption: save data key: %w", err)
	}
	return nil
}

// LoadDEK reads what SaveDEK wrote. A wrapped key needs unlockKey: without
// one LoadDEK fails with ErrLocked (the manager must ask for the unlock
// key), with a wrong one with ErrInvalidUnlockKey. A clear key is returned
// whatever unlockKey is. A missing file fails with an error wrapping
// fs.ErrNotExist.
func LoadDEK(path string, unlockKey *UnlockKey) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption: load data key: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: %s is not PEM", ErrDEKFile, path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: %s has data after the key", ErrDEKFile, path)
	}
	switch block.Type {
	case pemTypeClearDEK:
		if len(block.Bytes) != KeySize {
			return nil, fmt.Errorf("%w: %s: %w", ErrDEKFile, path, ErrKeySize)
		}
		return block.Bytes, nil
	case pemTypeWrappedDEK:
		return UnwrapKey(block.Bytes, unlockKey)
	}
	return nil, fmt.Errorf("%w: %s has PEM type %.40q", ErrDEKFile, path, block.Type)
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; say so explicitly.
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	syncErr := d.Sync()
	if closeErr := d.Close(); syncErr == nil {
		syncErr = closeErr
	}
	return syncErr
}
