package discovery

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/shoal-dev/shoal/model"
)

// DefaultKeyRotationInterval is the gossip key lifetime when the cluster
// spec does not set one, as in Docker.
const DefaultKeyRotationInterval = 12 * time.Hour

// KeyRotator decides, on the leader, when the gossip keys change and what
// the next key list is. It rotates in three steps, each committed through
// Raft and delivered to every node before the next:
//
//  1. add: [old, new]: every node can decrypt with the new key.
//  2. promote: [new, old]: nodes encrypt with the new key; nodes that have
//     not switched yet still use the old one, which everybody decrypts.
//  3. retire: [new]: the old key is forgotten.
//
// Promote and retire are taken only once the current list has been in
// place for PropagationDelay as seen by this rotator, so a new leader waits
// a full delay before either: it cannot know how long ago the list it found
// was committed. Add is safe at any time. The rotation interval counts from the primary key's
// CreatedAt, which is in the store, so leader changes do not reset it.
//
// KeyRotator is pure logic over the cluster object and its clock; the
// manager calls Next whenever the cluster object changes (so that it sees
// each list as soon as it is committed) and at the time Next asks for, commits the keys it returns, and delivers
// Cluster.GossipKeys to the nodes over their authenticated sessions (never
// through the join token); each node calls Gossip.SetKeys(KeysOf(keys)).
// It is not safe for concurrent use.
type KeyRotator struct {
	// PropagationDelay is how long a key list must have been in place
	// before the next step: longer than it takes to deliver a cluster
	// change to every connected node. 1 minute; a rotation then takes
	// 2 minutes. A node disconnected for longer gets the latest list when
	// its session resumes, and gossips again from then.
	PropagationDelay time.Duration
	// KeySize is the size of new keys in bytes: 32 (AES-256).
	KeySize int
	// Now is the clock; tests set a fake one.
	Now func() time.Time
	// Rand is the source of new keys: crypto/rand.Reader.
	Rand io.Reader

	seen      [32]byte  // fingerprint of the key list last seen
	seenAt    time.Time // when it was first seen
	seenValid bool
	after     time.Time // a forced rotation wants a primary created after this
}

// NewKeyRotator returns a rotator with the production settings.
func NewKeyRotator() *KeyRotator {
	return &KeyRotator{
		PropagationDelay: time.Minute,
		KeySize:          32,
		Now:              time.Now,
		Rand:             rand.Reader,
	}
}

// RotateAfter asks for a rotation to a primary key created after t, even
// before the interval is up. The manager calls it when a node is removed,
// with the time of the removal: the removed node may hold the current keys,
// and only a key it never received locks it out of gossip for good. It is
// remembered by this rotator only; a new leader rotates on its interval.
func (r *KeyRotator) RotateAfter(t time.Time) {
	if t.After(r.after) {
		r.after = t
	}
}

// KeyRotation is a decision of KeyRotator.Next.
type KeyRotation struct {
	// Keys is the key list to commit as Cluster.GossipKeys, primary
	// first; nil when there is nothing to commit now.
	Keys []model.GossipKey
	// Step names the change: "create", "add", "promote" or "retire".
	Step string
	// NextCheck is when to call Next again at the latest if the cluster
	// object does not change before.
	NextCheck time.Time
}

// Next returns the key change due now for cluster c, if any.
func (r *KeyRotator) Next(c *model.Cluster) (KeyRotation, error) {
	now := r.Now()
	keys := c.GossipKeys
	fp := fingerprint(keys)
	if !r.seenValid || fp != r.seen {
		r.seen, r.seenAt, r.seenValid = fp, now, true
	}
	if len(keys) == 0 {
		k, err := r.newKey(now)
		if err != nil {
			return KeyRotation{}, err
		}
		return KeyRotation{Keys: []model.GossipKey{k}, Step: "create", NextCheck: now.Add(r.PropagationDelay)}, nil
	}
	settled := r.seenAt.Add(r.PropagationDelay)
	primary := keys[0]
	newest := -1
	for i, k := range keys[1:] {
		if k.CreatedAt.After(primary.CreatedAt) && (newest < 0 || k.CreatedAt.After(keys[newest].CreatedAt)) {
			newest = i + 1
		}
	}
	switch {
	case newest > 0:
		// A newer key is known to the nodes: make it primary.
		if now.Before(settled) {
			return KeyRotation{NextCheck: settled}, nil
		}
		return KeyRotation{Keys: []model.GossipKey{keys[newest], primary}, Step: "promote", NextCheck: now.Add(r.PropagationDelay)}, nil
	case len(keys) > 1:
		// Every node encrypts with the primary: forget the others.
		if now.Before(settled) {
			return KeyRotation{NextCheck: settled}, nil
		}
		return KeyRotation{Keys: []model.GossipKey{primary}, Step: "retire", NextCheck: now.Add(r.PropagationDelay)}, nil
	}
	interval := c.Spec.Gossip.KeyRotationInterval
	if interval <= 0 {
		interval = DefaultKeyRotationInterval
	}
	due := primary.CreatedAt.Add(interval)
	forced := !r.after.IsZero() && !primary.CreatedAt.After(r.after)
	if now.Before(due) && !forced {
		return KeyRotation{NextCheck: due}, nil
	}
	// Adding a key is safe at any time: nobody encrypts with it yet.
	k, err := r.newKey(now)
	if err != nil {
		return KeyRotation{}, err
	}
	// A new key must be created after the removal it answers; a clock at
	// the same instant would not be.
	if forced && !k.CreatedAt.After(r.after) {
		k.CreatedAt = r.after.Add(time.Nanosecond)
	}
	return KeyRotation{Keys: []model.GossipKey{primary, k}, Step: "add", NextCheck: now.Add(r.PropagationDelay)}, nil
}

func (r *KeyRotator) newKey(now time.Time) (model.GossipKey, error) {
	size := r.KeySize
	if size == 0 {
		size = 32
	}
	if size != 16 && size != 24 && size != 32 {
		return model.GossipKey{}, fmt.Errorf("%w: key size %d, want 16, 24 or 32", ErrInvalidKey, size)
	}
	key := make([]byte, size)
	if _, err := io.ReadFull(r.Rand, key); err != nil {
		return model.GossipKey{}, fmt.Errorf("discovery: new gossip key: %w", err)
	}
	return model.GossipKey{Key: key, CreatedAt: now}, nil
}

// KeysOf returns the key bytes of a cluster's gossip keys, for Config.Keys
// and Gossip.SetKeys.
func KeysOf(keys []model.GossipKey) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = k.Key
	}
	return out
}

func fingerprint(keys []model.GossipKey) [32]byte {
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:", len(k.Key))
		h.Write(k.Key)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
