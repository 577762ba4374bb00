//go:build !btree

package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// refKey is a reference model's key.
type refKey = string

func refLess(a, b refKey) int { return strings.Compare(a, b) }

// checkTree checks a tree's invariants and that it holds exactly want.
func checkTree(t *testing.T, tr *ptree[int], want map[refKey]int) {
	t.Helper()
	keys := make([]refKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, refLess)
	var got []refKey
	tr.ascend(nil, func(it *item[int]) bool {
		got = append(got, it.key)
		if want[it.key] != *it.obj {
			t.Fatalf("item %q holds %d, want %d", it.key, *it.obj, want[it.key])
		}
		return true
	})
	if !slices.Equal(got, keys) {
		t.Fatalf("tree holds %d items, want %d (or order differs)", len(got), len(keys))
	}
	if tr.len() != len(want) {
		t.Fatalf("len %d, want %d", tr.len(), len(want))
	}
	for k, v := range want {
		key := mkKey(k)
		it, ok := tr.get(&key)
		if !ok || *it.obj != v {
			t.Fatalf("get %v: %v %v", k, ok, it)
		}
	}
	if tr.root != nil {
		checkNode(t, tr.root, true, nil, nil)
	}
}

// checkNode checks sizes, order and that every item lies within the
// bounds its ancestors give, and returns the depth of the subtree.
func checkNode(t *testing.T, n *pnode[int], root bool, lo, hi *item[int]) int {
	t.Helper()
	if n.leaf() {
		if !root && (len(n.items) < leafMin || len(n.items) > leafMax) {
			t.Fatalf("leaf with %d items", len(n.items))
		}
		for i := range n.items {
			it := &n.items[i]
			if it.kp != prefix8(it.key) || n.kps[i] != it.kp {
				t.Fatalf("bad prefix of %q", it.key)
			}
			if i > 0 && n.items[i-1].cmp(&it.ikey) >= 0 {
				t.Fatalf("leaf out of order")
			}
			if lo != nil && it.cmp(&lo.ikey) < 0 || hi != nil && it.cmp(&hi.ikey) >= 0 {
				t.Fatalf("item %q outside its bounds", it.key)
			}
		}
		return 1
	}
	if len(n.items) != len(n.children) {
		t.Fatalf("internal node with %d items and %d children", len(n.items), len(n.children))
	}
	if !root && (len(n.children) < innerMin || len(n.children) > innerMax) || root && len(n.children) < 2 {
		t.Fatalf("internal node with %d children", len(n.children))
	}
	for i := 1; i < len(n.items); i++ {
		if n.kps[i] != n.items[i].kp || n.items[i].kp != prefix8(n.items[i].key) {
			t.Fatal("bad separator prefix")
		}
	}
	depth := 0
	for i, c := range n.children {
		clo, chi := lo, hi
		if i > 0 {
			clo = &n.items[i]
			if n.items[i].obj != nil {
				t.Fatal("separator holds an object")
			}
		}
		if i+1 < len(n.items) {
			chi = &n.items[i+1]
			if n.items[i].cmp(&n.items[i+1].ikey) >= 0 && i > 0 {
				t.Fatal("separators out of order")
			}
		}
		d := checkNode(t, c, false, clo, chi)
		if i > 0 && d != depth {
			t.Fatalf("unbalanced: depths %d and %d", depth, d)
		}
		depth = d
	}
	return depth + 1
}

func TestPtreeAgainstModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			// Keys share prefixes longer than eight bytes, and ids repeat
			// across keys, so that every comparison path is taken.
			keys := []string{"", "a", "abcdefgh", "abcdefgh1", "abcdefgh2", "abcdefghij", "b", "zzzzzzzzzzzz"}
			var tr ptree[int]
			want := map[refKey]int{}
			type version struct {
				tr   ptree[int]
				want map[refKey]int
			}
			var versions []version
			val := 0
			for txn := range 200 {
				o := &owner{}
				n := 1 + r.IntN(40)
				if txn%50 == 0 {
					n = 2000
				}
				for range n {
					k := keys[r.IntN(len(keys))] + fmt.Sprintf("%0*d", r.IntN(12), r.IntN(1500))
					if r.IntN(3) == 0 {
						key := mkKey(k)
						ok := tr.delete(&key, o)
						_, had := want[k]
						if ok != had {
							t.Fatalf("delete %v: %v, model had it: %v", k, ok, had)
						}
						delete(want, k)
						continue
					}
					val++
					v := val
					replaced := tr.put(mkItem(k, &v), o)
					if _, had := want[k]; had != replaced {
						t.Fatalf("put %v replaced %v, model had it: %v", k, replaced, had)
					}
					want[k] = v
				}
				if txn%10 == 0 {
					checkTree(t, &tr, want)
					versions = append(versions, version{tr, maps.Clone(want)})
				}
			}
			// Every committed version is intact: later writes copied the
			// nodes they changed.
			for _, v := range versions {
				checkTree(t, &v.tr, v.want)
			}
			// Deleting everything, in small transactions, leaves an empty
			// tree.
			var o *owner
			i := 0
			for k := range want {
				if i%100 == 0 {
					o = &owner{}
				}
				key := mkKey(k)
				tr.delete(&key, o)
				delete(want, k)
				if i++; i%500 == 0 {
					checkTree(t, &tr, want)
				}
			}
			if tr.root != nil || tr.len() != 0 {
				t.Fatalf("tree not empty: %d", tr.len())
			}
		})
	}
}

func TestPtreeAscendFrom(t *testing.T) {
	var tr ptree[int]
	o := &owner{}
	v := 0
	for i := range 1000 {
		tr.put(mkItem(fmt.Sprintf("k%04d", i*2), &v), o)
	}
	for _, from := range []int{-1, 0, 1, 2, 999, 1000, 1997, 1998, 1999, 5000} {
		var got []string
		k := mkKey(fmt.Sprintf("k%04d", from))
		if from < 0 {
			k = mkKey("")
		}
		tr.ascend(&k, func(it *item[int]) bool {
			got = append(got, it.key)
			return len(got) < 3
		})
		var want []string
		for i := max(0, (from+1)/2); i < 1000 && len(want) < 3; i++ {
			want = append(want, fmt.Sprintf("k%04d", i*2))
		}
		if !slices.Equal(got, want) {
			t.Errorf("from %d: got %v, want %v", from, got, want)
		}
	}
}

func TestPrefix8Orders(t *testing.T) {
	strs := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x00b", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "b", "\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
	for _, a := range strs {
		for _, b := range strs {
			ia, ib := mkItem[int](a, nil), mkItem[int](b, nil)
			if got, want := ia.cmp(&ib.ikey), strings.Compare(a, b); got != want {
				t.Errorf("cmp(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}
