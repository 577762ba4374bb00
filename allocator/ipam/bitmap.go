package ipam

import "math/bits"

// bitmap hands out the numbers 0..size-1, each to one holder at a time.
// Allocation is next-fit: it takes the first free number at or after the
// one after the last it handed out, wrapping around, so that a number just
// released (an address of a task that stopped) is the last to be handed
// out again. Its words grow only as far as numbers are used, so a space
// of 2^24 VXLAN IDs costs nothing until it is used.
//
// A bitmap is not safe for concurrent use.
type bitmap struct {
	words []uint64
	size  uint64
	used  uint64
	// next is where the next allocation starts looking.
	next uint64
}

func newBitmap(size uint64) *bitmap { return &bitmap{size: size} }

// isSet tells whether i is taken.
func (b *bitmap) isSet(i uint64) bool {
	w := i / 64
	return w < uint64(len(b.words)) && b.words[w]&(1<<(i%64)) != 0
}

// set takes i; it reports false if i is out of range or already taken.
func (b *bitmap) set(i uint64) bool {
	if i >= b.size || b.isSet(i) {
		return false
	}
	w := i / 64
	for uint64(len(b.words)) <= w {
		b.words = append(b.words, 0)
	}
	b.words[w] |= 1 << (i % 64)
	b.used++
	return true
}

// clear releases i; it reports false if i was not taken.
func (b *bitmap) clear(i uint64) bool {
	if !b.isSet(i) {
		return false
	}
	b.words[i/64] &^= 1 << (i % 64)
	b.used--
	return true
}

// allocate takes the next free number in [lo, hi), next-fit; it reports
// false if there is none.
func (b *bitmap) allocate(lo, hi uint64) (uint64, bool) {
	hi = min(hi, b.size)
	if lo >= hi {
		return 0, false
	}
	start := b.next
	if start < lo || start >= hi {
		start = lo
	}
	if i, ok := b.firstFree(start, hi); ok {
		b.set(i)
		b.next = i + 1
		return i, true
	}
	if i, ok := b.firstFree(lo, start); ok {
		b.set(i)
		b.next = i + 1
		return i, true
	}
	return 0, false
}

// firstFree returns the first free number in [from, to).
func (b *bitmap) firstFree(from, to uint64) (uint64, bool) {
	for i := from; i < to; {
		w := i / 64
		if w >= uint64(len(b.words)) {
			return i, true // never used
		}
		free := ^b.words[w] >> (i % 64)
		if free != 0 {
			j := i + uint64(bits.TrailingZeros64(free))
			if j < to {
				return j, true
			}
			return 0, false
		}
		i = (w + 1) * 64
	}
	return 0, false
}
