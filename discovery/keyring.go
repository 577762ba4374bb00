package discovery

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// KeyID returns the first 8 hex digits of the SHA-256 of key: a name for a
// key that can be logged and shown.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// SetKeys changes the keyring in place to keys, the first one primary:
// keys not yet in the ring are added, the primary switched, and keys no
// longer listed removed, without restarting gossip. To rotate without
// losing any node, every node must have a new key before any node makes
// it primary, and every node must have switched before any node removes
// the old key: KeyRotator makes key lists in that order, and the manager
// delivers each list to every node before committing the next.
func (g *Gossip) SetKeys(keys [][]byte) error {
	if g.ring == nil {
		return ErrNotEncrypted
	}
	if err := validateKeys(keys); err != nil {
		return err
	}
	keys = cloneKeys(keys)
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	if err := applyKeys(g.ring, keys); err != nil {
		return err
	}
	g.log.Info("gossip keyring changed", "keys", len(keys), "primary", KeyID(keys[0]))
	return nil
}

// applyKeys makes ring hold exactly keys, keys[0] primary.
//
// memberlist's Keyring hands its key slice to the packet path without a
// copy, and RemoveKey shifts that slice in place: removing any key but the
// last would race with a decryption in progress. So the keys to remove are
// first moved to the end (UseKey rebuilds the slice with the given key in
// front), then removed from the last one, which writes nothing shared. The
// move is needed only when the removed keys are not already last, which
// KeyRotator's lists never cause; it briefly makes other listed keys
// primary.
func applyKeys(ring *memberlist.Keyring, keys [][]byte) error {
	for _, k := range keys {
		if err := ring.AddKey(k); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
	}
	if err := ring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[string(k)] = true
	}
	cur := slices.Clone(ring.GetKeys())
	if len(cur) == len(keys) {
		return nil
	}
	for _, k := range cur[:len(keys)] {
		if !want[string(k)] {
			for i := len(keys) - 1; i >= 0; i-- {
				if err := ring.UseKey(keys[i]); err != nil {
					return fmt.Errorf("%w: %w", ErrInvalidKey, err)
				}
			}
			cur = slices.Clone(ring.GetKeys())
			break
		}
	}
	for i := len(cur) - 1; i >= len(keys); i-- {
		if err := ring.RemoveKey(cur[i]); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
	}
	return nil
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = slices.Clone(k)
	}
	return out
}
