package state

import (
	"errors"
	"slices"
	"strings"
)

// index describes a secondary index of a table.
//
// A unique index maps each value to the last object written with it. A
// non-unique index maps each value to the set of IDs of the objects with
// it (setIndex): entries are ordered by value then ID, as go-memdb ordered
// them, and hold no object: a read finds it by ID in the primary index. So
// a write that does not change an object's indexed values (a task's
// status report) writes the primary index only.
type index[T any] struct {
	name   string
	unique bool
	// required indexes refuse objects without a value; others leave such
	// objects out of the index.
	required bool
	value    func(*T) string
}

// table is one kind of object: its primary index by ID and its secondary
// indexes, in the order of its schema.
type table[T any] struct {
	schema []index[T]
	ids    ptree[T]
	// uniq and sets hold the unique and the other secondary indexes, at
	// the positions of their schema entries.
	uniq []ptree[T]
	sets []setIndex
	// owner may write the trees' nodes in place: the transaction that
	// made this version, while it runs; nil once committed.
	owner *owner
	// batch, while a batch write runs (deferSets), collects the changes
	// of the set indexes; nil otherwise.
	batch *setBatch
}

func newTable[T any](schema []index[T]) table[T] {
	return table[T]{schema: schema, uniq: make([]ptree[T], len(schema)), sets: make([]setIndex, len(schema)), owner: &owner{}}
}

// writable returns a copy of the table that the transaction o writes:
// its trees are shared until o writes their nodes.
func (t *table[T]) writable(o *owner) table[T] {
	return table[T]{
		schema: t.schema, ids: t.ids, owner: o,
		uniq: append([]ptree[T](nil), t.uniq...),
		sets: append([]setIndex(nil), t.sets...),
	}
}

func (t *table[T]) get(id string) *T {
	k := mkKey(id)
	it, ok := t.ids.get(&k)
	if !ok {
		return nil
	}
	return it.obj
}

func (t *table[T]) len() int { return t.ids.len() }

// first returns the object with the smallest ID, or nil.
func (t *table[T]) first() *T {
	it, ok := t.ids.min()
	if !ok {
		return nil
	}
	return it.obj
}

var errMissingID = errors.New("object missing primary index")

// missingIndexError reports an object without a value for a required
// index, a schema violation.
type missingIndexError struct{ index string }

func (e *missingIndexError) Error() string { return "missing value for index '" + e.index + "'" }

// put inserts obj, replacing old (the stored object with the same ID, or
// nil). It fails, changing nothing, if obj lacks its ID or a required
// index value.
func (t *table[T]) put(id string, obj, old *T) error { return t.putAt(nil, id, obj, old) }

// find returns the object with this ID, or nil, and records in p where
// it is or belongs in the primary index, for a putAt that follows.
func (t *table[T]) find(id string, p *path[T]) *T {
	k := mkKey(id)
	if it := t.ids.seek(&k, p); it != nil {
		return it.obj
	}
	return nil
}

// putAt is put with the path a find of id recorded, if p is not nil: the
// table must not have changed since.
func (t *table[T]) putAt(p *path[T], id string, obj, old *T) error {
	if id == "" {
		return errMissingID
	}
	for _, ix := range t.schema {
		if ix.required && ix.value(obj) == "" {
			return &missingIndexError{ix.name}
		}
	}
	if p != nil {
		t.ids.putAt(p, mkItem(id, obj), t.owner)
	} else {
		t.ids.put(mkItem(id, obj), t.owner)
	}
	for i, ix := range t.schema {
		v := ix.value(obj)
		ov := ""
		if old != nil {
			ov = ix.value(old)
		}
		if !ix.unique {
			// Entries of non-unique indexes do not hold the object: they
			// change only with the value.
			if v != ov {
				if ov != "" {
					t.setChange(i, ov, id, false)
				}
				if v != "" {
					t.setChange(i, v, id, true)
				}
			}
			continue
		}
		if ov != "" && ov != v {
			t.removeUnique(i, ov, old)
		}
		if v != "" {
			t.uniq[i].put(mkItem(v, obj), t.owner)
		}
	}
	return nil
}

// removeUnique deletes the entry of value v of unique index i if it is
// obj's: a unique entry belongs to the last object written with the value.
func (t *table[T]) removeUnique(i int, v string, obj *T) {
	k := mkKey(v)
	if it, ok := t.uniq[i].get(&k); ok && it.obj == obj {
		t.uniq[i].delete(&k, t.owner)
	}
}

// remove deletes the stored object obj with this ID.
func (t *table[T]) remove(id string, obj *T) {
	k := mkKey(id)
	t.ids.delete(&k, t.owner)
	for i, ix := range t.schema {
		v := ix.value(obj)
		switch {
		case v == "":
		case ix.unique:
			t.removeUnique(i, v, obj)
		default:
			t.setChange(i, v, id, false)
		}
	}
}

// setChange adds id to (add) or removes it from the set of value v of
// set index i, or defers that during a batch.
func (t *table[T]) setChange(i int, v, id string, add bool) {
	switch {
	case t.batch != nil:
		t.batch.note(i, v, id, add)
	case add:
		t.sets[i].add(v, id, t.owner)
	default:
		t.sets[i].remove(v, id, t.owner)
	}
}

// deferSets starts a batch write of about n objects, which must end with
// applySets before anything reads the table's set indexes. Until then
// the changes of the set indexes wait, to be made grouped by value: a batch
// that assigns 100,000 tasks to 1,000 nodes then adds the tasks of each
// node to its set in one run, while that set's tree is in the cache,
// instead of visiting the thousand sets in turn, a cache miss on every
// level of two trees.
func (t *table[T]) deferSets(n int) {
	t.batch = &setBatch{runs: make([]map[string]int32, len(t.schema)), changes: make([]setChange, 0, n)}
}

// applySets ends a batch write: it makes the deferred changes of the set
// indexes, each value's in the order they were made.
func (t *table[T]) applySets() {
	b := t.batch
	t.batch = nil
	if len(b.changes) == 0 {
		return
	}
	// Sort the changes by run, keeping their order within each.
	starts := make([]int32, len(b.order)+1)
	for _, c := range b.changes {
		starts[c.run+1]++
	}
	for r := range b.order {
		starts[r+1] += starts[r]
	}
	next := slices.Clone(starts[:len(b.order)])
	byRun := make([]setChange, len(b.changes))
	for _, c := range b.changes {
		byRun[next[c.run]] = c
		next[c.run]++
	}
	for r, run := range b.order {
		t.sets[run.index].applyRun(run.value, byRun[starts[r]:starts[r+1]], t.owner)
	}
}

// setBatch is the set index changes a batch write deferred: runs of
// changes, one for each index and value.
type setBatch struct {
	runs    []map[string]int32 // by index and value, the number of each run: its index in order
	order   []setRun
	changes []setChange
}

type setRun struct {
	index int
	value string
}

// setChange is one deferred change: id is added to or removed from the
// set of its run.
type setChange struct {
	id  string
	run int32
	add bool
}

func (b *setBatch) note(i int, v, id string, add bool) {
	if b.runs[i] == nil {
		b.runs[i] = map[string]int32{}
	}
	r, ok := b.runs[i][v]
	if !ok {
		r = int32(len(b.order))
		b.runs[i][v] = r
		b.order = append(b.order, setRun{index: i, value: v})
	}
	b.changes = append(b.changes, setChange{id: id, run: r, add: add})
}

// scan calls fn for the objects q selects, in index order, until fn
// returns false.
func (t *table[T]) scan(q query, fn func(*T) bool) error {
	if q.none {
		return nil
	}
	filter, _ := q.filter.(func(*T) bool)
	visit := func(o *T) bool {
		if filter != nil && !filter(o) {
			return true
		}
		return fn(o)
	}
	visitItem := func(it *item[T]) bool { return visit(it.obj) }
	visitID := func(it *item[struct{}]) bool { return visit(t.get(it.key)) }
	if q.index == "" {
		if q.all {
			t.ids.ascend(nil, visitItem)
		} else {
			ascendFrom(&t.ids, q.value, true, visitItem)
		}
		return nil
	}
	for i, ix := range t.schema {
		if ix.name != q.index {
			continue
		}
		if q.value == "" && !q.all && !q.prefix {
			// Objects without a value are not indexed.
			return nil
		}
		if ix.unique {
			ascendFrom(&t.uniq[i], q.value, q.prefix || q.all, visitItem)
		} else {
			ascendFrom(&t.sets[i].vals, q.value, q.prefix || q.all, func(s *item[idSet]) bool {
				return s.obj.ids.ascend(nil, visitID)
			})
		}
		return nil
	}
	return errorf(ErrInvalid, "no index %q", q.index)
}

// ascendFrom calls fn for the items of tr whose key is value, or starts
// with it if prefix is set, in order, until fn returns false. It returns
// false if fn did.
func ascendFrom[V any](tr *ptree[V], value string, prefix bool, fn func(*item[V]) bool) bool {
	from := mkKey(value)
	return tr.ascend(&from, func(it *item[V]) bool {
		if prefix && !strings.HasPrefix(it.key, value) || !prefix && it.key != value {
			return false
		}
		return fn(it)
	})
}

// setIndex is a non-unique index: for each value, a tree of the IDs of
// the objects with it. The outer tree's keys are few and distinct (the
// nodes or the services of tasks), and so are each inner tree's, so that
// comparisons are decided by the keys' prefixes.
type setIndex struct {
	vals ptree[idSet]
}

// idSet is the IDs of the objects with one value. owner may change it in
// place; others copy it first.
type idSet struct {
	ids   ptree[struct{}]
	owner *owner
}

// add adds id to the set of value v.
func (s *setIndex) add(v, id string, o *owner) {
	k := mkKey(v)
	var p path[idSet]
	var ids ptree[struct{}]
	if it := s.vals.seek(&k, &p); it != nil {
		if it.obj.owner == o {
			it.obj.ids.put(mkItem[struct{}](id, nil), o)
			return
		}
		ids = it.obj.ids
	}
	set := &idSet{ids: ids, owner: o}
	set.ids.put(mkItem[struct{}](id, nil), o)
	s.vals.putAt(&p, mkItem(v, set), o)
}

// remove removes id from the set of value v.
func (s *setIndex) remove(v, id string, o *owner) {
	k := mkKey(v)
	var p path[idSet]
	it := s.vals.seek(&k, &p)
	if it == nil {
		return
	}
	ik := mkKey(id)
	if _, ok := it.obj.ids.get(&ik); !ok {
		return
	}
	set := it.obj
	if set.owner != o {
		set = &idSet{ids: set.ids, owner: o}
		s.vals.putAt(&p, mkItem(v, set), o)
	}
	set.ids.delete(&ik, o)
	if set.ids.len() == 0 {
		s.vals.delete(&k, o)
	}
}

// applyRun adds and removes the ids of changes, in order, to and from the
// set of value v.
func (s *setIndex) applyRun(v string, changes []setChange, o *owner) {
	k := mkKey(v)
	var p path[idSet]
	var set *idSet
	if it := s.vals.seek(&k, &p); it != nil && it.obj.owner == o {
		set = it.obj
	} else {
		set = &idSet{owner: o}
		if it != nil {
			set.ids = it.obj.ids
		}
		s.vals.putAt(&p, mkItem(v, set), o)
	}
	for _, c := range changes {
		if c.add {
			set.ids.put(mkItem[struct{}](c.id, nil), o)
		} else {
			ik := mkKey(c.id)
			set.ids.delete(&ik, o)
		}
	}
	if set.ids.len() == 0 {
		s.vals.delete(&k, o)
	}
}

// query is what a By selects: the objects of an index (the primary index
// by ID when index is empty) whose value is value, or starts with it, or
// all of them, or none, and then only those filter (a func(*T) bool for
// the table's T, if set) accepts.
type query struct {
	index  string
	value  string
	prefix bool
	all    bool
	none   bool
	filter any
}
