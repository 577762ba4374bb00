package state

import "strings"

// owner identifies the write transaction that may modify a node in place.
// It has a size so that every owner is a distinct pointer.
type owner struct{ _ byte }

// item is one entry of a tree.
type item[T any] struct {
	ikey
	obj *T
}

// ikey is an item's key, with kp its big-endian first eight bytes,
// zero-padded.
type ikey struct {
	kp  uint64
	key string
}

func mkKey(key string) ikey { return ikey{kp: prefix8(key), key: key} }

func mkItem[T any](key string, obj *T) item[T] { return item[T]{ikey: mkKey(key), obj: obj} }

// prefix8 returns the first eight bytes of s as a big-endian integer,
// zero-padded: comparing prefixes, then whole strings when they are equal,
// orders strings as comparing them does.
func prefix8(s string) uint64 {
	if len(s) >= 8 {
		_ = s[7]
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	var p uint64
	for i := 0; i < len(s); i++ {
		p |= uint64(s[i]) << (56 - 8*i)
	}
	return p
}

// cmp orders keys. It is small enough to be inlined in the searches,
// where the prefixes decide most comparisons.
func (a *ikey) cmp(b *ikey) int {
	if a.kp != b.kp {
		if a.kp < b.kp {
			return -1
		}
		return 1
	}
	return a.cmpStrings(b)
}

func (a *ikey) cmpStrings(b *ikey) int { return strings.Compare(a.key, b.key) }
