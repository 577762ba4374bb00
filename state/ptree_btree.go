//go:build btree

package state

import "github.com/google/btree"

// This file puts github.com/google/btree's BTreeG behind ptree's API, for
// measuring it against ptree.go on the store benchmarks:
//
//	go test -tags btree -run '^$' -bench . ./state/ ./scheduler/
//
// BTreeG's Clone is lazy copy-on-write, so a write transaction clones a
// tree the first time it writes to it (the tree's owner is not the
// transaction) and writes the clone in place afterwards, as ptree does
// with its owner tokens. See the measurements in BENCHMARKS.md.

// btreeDegree: nodes of up to 2*degree-1 items.
const btreeDegree = 16

type ptree[T any] struct {
	bt     *btree.BTreeG[item[T]]
	writer *owner // the transaction that may write bt in place
}

// path has no use here: seek and putAt search again.
type path[T any] struct{ found bool }

func lessItem[T any](a, b item[T]) bool { return a.cmp(&b.ikey) < 0 }

func (t *ptree[T]) writable(o *owner) {
	switch {
	case t.bt == nil:
		t.bt = btree.NewG[item[T]](btreeDegree, lessItem[T])
	case t.writer != o:
		t.bt = t.bt.Clone()
	}
	t.writer = o
}

func (t *ptree[T]) get(k *ikey) (*item[T], bool) {
	if t.bt == nil {
		return nil, false
	}
	it, ok := t.bt.Get(item[T]{ikey: *k})
	if !ok {
		return nil, false
	}
	return &it, true
}

func (t *ptree[T]) min() (*item[T], bool) {
	if t.bt == nil {
		return nil, false
	}
	it, ok := t.bt.Min()
	if !ok {
		return nil, false
	}
	return &it, true
}

func (t *ptree[T]) len() int {
	if t.bt == nil {
		return 0
	}
	return t.bt.Len()
}

func (t *ptree[T]) seek(k *ikey, p *path[T]) *item[T] {
	it, ok := t.get(k)
	p.found = ok
	return it
}

func (t *ptree[T]) put(it item[T], o *owner) bool {
	t.writable(o)
	_, replaced := t.bt.ReplaceOrInsert(it)
	return replaced
}

func (t *ptree[T]) putAt(_ *path[T], it item[T], o *owner) { t.put(it, o) }

func (t *ptree[T]) delete(k *ikey, o *owner) bool {
	if t.bt == nil {
		return false
	}
	t.writable(o)
	_, ok := t.bt.Delete(item[T]{ikey: *k})
	return ok
}

func (t *ptree[T]) ascend(from *ikey, fn func(*item[T]) bool) bool {
	if t.bt == nil {
		return true
	}
	all := true
	visit := func(it item[T]) bool {
		if !fn(&it) {
			all = false
		}
		return all
	}
	if from == nil {
		t.bt.Ascend(visit)
	} else {
		t.bt.AscendGreaterOrEqual(item[T]{ikey: *from}, visit)
	}
	return all
}
