package discovery

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// TestApplyKeys changes a keyring through arbitrary lists while other
// goroutines read it the way memberlist's packet path does; the race
// detector checks that no change writes a slice a reader may hold.
func TestApplyKeys(t *testing.T) {
	a, b, c, d := key('a'), key('b'), key('c'), key('d')
	ring, err := memberlist.NewKeyring(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg, started sync.WaitGroup
	for range 2 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			for !stop.Load() {
				var sum byte
				for _, k := range ring.GetKeys() {
					sum ^= k[0]
				}
				_ = ring.GetPrimaryKey()
				_ = sum
			}
		}()
	}
	lists := [][][]byte{
		{a, b},       // add
		{b, a},       // promote
		{b},          // retire
		{b, c, d},    // add two
		{c, b, d},    // switch
		{c, d},       // remove a key in the middle
		{a, c, d},    // new primary at once
		{d},          // remove the former primary and another
		{a, b, c, d}, // rebuild
		{b, d},       // remove first and third
		{a},          // back to the start
	}
	// Many rounds while the readers run: a racing write shows only when a
	// reader is at it.
	started.Wait()
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; i < len(lists) || time.Now().Before(deadline); i++ {
		want := lists[i%len(lists)]
		if err := applyKeys(ring, want); err != nil {
			t.Fatalf("applyKeys: %v", err)
		}
		// The primary is keys[0]; the order of the others is not kept.
		got := ring.GetKeys()
		sorted := func(keys [][]byte) [][]byte {
			return slices.SortedFunc(slices.Values(keys), bytes.Compare)
		}
		if !bytes.Equal(got[0], want[0]) || !slices.EqualFunc(sorted(got), sorted(want), bytes.Equal) {
			t.Fatalf("ring = %q, want %q", got, want)
		}
	}
	stop.Store(true)
	wg.Wait()
}
