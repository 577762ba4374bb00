package state

import (
	"errors"
	"strings"
)

// index describes a secondary index of a table.
//
// A unique index maps each value to the last object written with it. A
// non-unique index holds one (value, object ID) entry per object, ordered
// by value then ID as go-memdb ordered them, without the object: a read
// finds it by ID in the primary index. So a write that does not change an
// object's indexed values (a task's status report) writes the primary
// index only.
type index[T any] struct {
	name   string
	unique bool
	// required indexes refuse objects without a value; others leave such
	// objects out of the index.
	required bool
	value    func(*T) string
}

// table is one kind of object: its primary index by ID and its secondary
// indexes, in the order of its schema. The zero-size owner of a committed
// table is gone: writes need a transaction's owner (see writable).
type table[T any] struct {
	schema []index[T]
	ids    ptree[T]
	idx    []ptree[T]
	// owner may write the trees' nodes in place: the transaction that
	// made this version, while it runs.
	owner *owner
}

func newTable[T any](schema []index[T]) table[T] {
	return table[T]{schema: schema, idx: make([]ptree[T], len(schema)), owner: &owner{}}
}

// writable returns a copy of the table that the transaction o writes:
// its trees are shared until o writes their nodes.
func (t *table[T]) writable(o *owner) table[T] {
	return table[T]{schema: t.schema, ids: t.ids, idx: append([]ptree[T](nil), t.idx...), owner: o}
}

func (t *table[T]) get(id string) *T {
	k := mkKey(id, "")
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
	k := mkKey(id, "")
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
		t.ids.putAt(p, mkItem(id, "", obj), t.owner)
	} else {
		t.ids.put(mkItem(id, "", obj), t.owner)
	}
	for i, ix := range t.schema {
		tr := &t.idx[i]
		v := ix.value(obj)
		ov := ""
		if old != nil {
			ov = ix.value(old)
		}
		if ov != "" && ov != v {
			t.deleteIndexEntry(tr, ix.unique, ov, id, old)
		}
		switch {
		case v == "":
		case ix.unique:
			tr.put(mkItem(v, "", obj), t.owner)
		case v != ov:
			// Entries of non-unique indexes do not hold the object: they
			// change only with the value.
			tr.put(mkItem[T](v, id, nil), t.owner)
		}
	}
	return nil
}

func (t *table[T]) deleteIndexEntry(tr *ptree[T], unique bool, v, id string, obj *T) {
	if !unique {
		k := mkKey(v, id)
		tr.delete(&k, t.owner)
		return
	}
	// A unique entry belongs to the last object written with the value.
	k := mkKey(v, "")
	if it, ok := tr.get(&k); ok && it.obj == obj {
		tr.delete(&k, t.owner)
	}
}

// remove deletes the stored object obj with this ID.
func (t *table[T]) remove(id string, obj *T) {
	k := mkKey(id, "")
	t.ids.delete(&k, t.owner)
	for i, ix := range t.schema {
		if v := ix.value(obj); v != "" {
			t.deleteIndexEntry(&t.idx[i], ix.unique, v, id, obj)
		}
	}
}

// scan calls fn for the objects q selects, in index order, until fn
// returns false.
func (t *table[T]) scan(q query, fn func(*T) bool) error {
	if q.none {
		return nil
	}
	tr, unique := &t.ids, true
	if q.index != "" {
		tr = nil
		for i, ix := range t.schema {
			if ix.name == q.index {
				tr, unique = &t.idx[i], ix.unique
				break
			}
		}
		if tr == nil {
			return errorf(ErrInvalid, "no index %q", q.index)
		}
	}
	filter, _ := q.filter.(func(*T) bool)
	visit := func(it *item[T]) bool {
		o := it.obj
		if !unique {
			o = t.get(it.id)
		}
		if filter != nil && !filter(o) {
			return true
		}
		return fn(o)
	}
	switch {
	case q.all:
		tr.ascend(nil, visit)
	case q.prefix:
		from := mkKey(q.value, "")
		tr.ascend(&from, func(it *item[T]) bool {
			if !strings.HasPrefix(it.key, q.value) {
				return false
			}
			return visit(it)
		})
	default:
		if q.value == "" {
			// Objects without a value are not indexed.
			return nil
		}
		from := mkKey(q.value, "")
		tr.ascend(&from, func(it *item[T]) bool {
			if it.kp != from.kp || it.key != q.value {
				return false
			}
			return visit(it)
		})
	}
	return nil
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
