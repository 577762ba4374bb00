//go:build !btree

package state

// ptree is a persistent B+tree of items ordered by key, the store's index
// structure. A version that readers may hold is never modified: a
// writer changes a tree through nodes it owns, copying a node the first
// time it writes to it (copy-on-write) and writing the copy in place
// afterwards. Ownership is a token per write transaction, so a batch of
// 100k writes copies each node about once, not once per write.
//
// Items carry the first eight bytes of their key as an integer, kept
// densely in each node, so that most comparisons are integer comparisons
// that do not touch the strings' bytes. The zero ptree is an empty tree.
//
// Why not a library: github.com/google/btree's BTreeG (lazy copy-on-write
// Clone) behind the same API (ptree_btree.go, build tag btree) was as fast
// on status reports but 6 to 26 % slower in CPU on the 100k-task batches
// and the restore, with 2 to 3 times the allocations (BENCHMARKS.md, "The
// store's trees"): it copies items out on every read and searches again
// on insert, where ptree writes at the path its seek recorded.
type ptree[T any] struct {
	root   *pnode[T]
	length int
}

// Node sizes. A leaf holds up to leafMax items, an internal node up to
// innerMax children; both hold at least half as many, but for the root.
// A write copies the nodes on its path once per transaction, so node size
// is what a small transaction pays per item (a status report of 100 tasks
// touches 100 paths of 5 nodes under 100k tasks): 16 and 16 allocated the
// least for those (a fifth less than 16 and 32) and were as fast as larger
// nodes for 100k-task batches, within the noise of a shared machine.
const (
	leafMax  = 16
	leafMin  = leafMax / 2
	innerMax = 16
	innerMin = innerMax / 2
	nodeMax  = max(leafMax, innerMax)
)

// pnode is a leaf (children nil: items are the entries) or an internal
// node (items[i] is a lower bound of every item under children[i], and
// items[0] is unused). kps holds the items' key prefixes, densely, for the
// searches: they read the items themselves only among equal prefixes.
type pnode[T any] struct {
	owner    *owner
	items    []item[T]
	children []*pnode[T]
	kps      [nodeMax + 1]uint64
}

func (n *pnode[T]) leaf() bool { return n.children == nil }

// mutable returns n if o owns it, or a copy that o owns.
func (n *pnode[T]) mutable(o *owner) *pnode[T] {
	if n.owner == o {
		return n
	}
	c := &pnode[T]{owner: o}
	copy(c.kps[:len(n.items)], n.kps[:len(n.items)])
	if n.leaf() {
		c.items = make([]item[T], len(n.items), leafMax+1)
		copy(c.items, n.items)
		return c
	}
	c.items = make([]item[T], len(n.items), innerMax+1)
	copy(c.items, n.items)
	c.children = make([]*pnode[T], len(n.children), innerMax+1)
	copy(c.children, n.children)
	return c
}

// Changes of items, which keep kps in step.

func (n *pnode[T]) setItem(i int, it item[T]) {
	n.items[i] = it
	n.kps[i] = it.kp
}

func (n *pnode[T]) insertItem(i int, it item[T]) {
	n.items = insertAt(n.items, i, it)
	copy(n.kps[i+1:len(n.items)], n.kps[i:len(n.items)-1])
	n.kps[i] = it.kp
}

func (n *pnode[T]) removeItem(i int) {
	n.items = removeAt(n.items, i)
	copy(n.kps[i:len(n.items)], n.kps[i+1:len(n.items)+1])
}

func (n *pnode[T]) appendItems(its ...item[T]) {
	for _, it := range its {
		n.kps[len(n.items)] = it.kp
		n.items = append(n.items, it)
	}
}

func (n *pnode[T]) truncateItems(h int) {
	clear(n.items[h:])
	n.items = n.items[:h]
}

// bound returns the first index in [lo, hi) whose item is greater than k
// (upper) or not less than k (!upper). Prefixes decide, but for items
// whose prefix equals k's.
func (n *pnode[T]) bound(lo, hi int, k *ikey, upper bool) int {
	a, b := lo, hi
	for a < b {
		m := int(uint(a+b) >> 1)
		if n.kps[m] < k.kp {
			a = m + 1
		} else {
			b = m
		}
	}
	if a == hi || n.kps[a] != k.kp {
		return a
	}
	c, d := a+1, hi
	for c < d {
		m := int(uint(c+d) >> 1)
		if n.kps[m] <= k.kp {
			c = m + 1
		} else {
			d = m
		}
	}
	// Items [a, c) have k's prefix.
	for a < c {
		m := int(uint(a+c) >> 1)
		if r := n.items[m].ikey.cmpStrings(k); r < 0 || upper && r == 0 {
			a = m + 1
		} else {
			c = m
		}
	}
	return a
}

// search returns the index of the first item of a leaf not less than k,
// and whether it equals k.
func (n *pnode[T]) search(k *ikey) (int, bool) {
	i := n.bound(0, len(n.items), k, false)
	return i, i < len(n.items) && n.kps[i] == k.kp && n.items[i].ikey.cmpStrings(k) == 0
}

// child returns the index of the child of an internal node under which k
// is or belongs.
func (n *pnode[T]) child(k *ikey) int {
	return n.bound(1, len(n.items), k, true) - 1
}

// get returns the item equal to k.
func (t *ptree[T]) get(k *ikey) (*item[T], bool) {
	n := t.root
	if n == nil {
		return nil, false
	}
	for !n.leaf() {
		n = n.children[n.child(k)]
	}
	i, ok := n.search(k)
	if !ok {
		return nil, false
	}
	return &n.items[i], true
}

// min returns the smallest item.
func (t *ptree[T]) min() (*item[T], bool) {
	n := t.root
	if n == nil {
		return nil, false
	}
	for !n.leaf() {
		n = n.children[0]
	}
	if len(n.items) == 0 {
		return nil, false
	}
	return &n.items[0], true
}

func (t *ptree[T]) len() int { return t.length }

// maxDepth bounds a tree's depth: with half-full nodes, a tree of depth 10
// holds billions of items.
const maxDepth = 10

// path is where seek found an item, or where it belongs: the nodes from
// the root down to the leaf and the index taken in each.
type path[T any] struct {
	nodes [maxDepth]*pnode[T]
	idx   [maxDepth]int
	depth int
	found bool
}

// seek finds k and returns the item if the tree holds it, recording the
// path to it (or to where it belongs) in p.
func (t *ptree[T]) seek(k *ikey, p *path[T]) *item[T] {
	p.depth, p.found = 0, false
	n := t.root
	if n == nil {
		return nil
	}
	for !n.leaf() {
		i := n.child(k)
		p.nodes[p.depth], p.idx[p.depth] = n, i
		p.depth++
		n = n.children[i]
	}
	i, ok := n.search(k)
	p.nodes[p.depth], p.idx[p.depth] = n, i
	p.depth++
	p.found = ok
	if !ok {
		return nil
	}
	return &n.items[i]
}

// put inserts it, or replaces the item equal to it, writing through o's
// nodes. It returns whether an item was replaced.
func (t *ptree[T]) put(it item[T], o *owner) bool {
	var p path[T]
	t.seek(&it.ikey, &p)
	t.putAt(&p, it, o)
	return p.found
}

// putAt replaces the item seek found, or inserts it where seek looked for
// it, writing through o's nodes. The tree must not have changed since the
// seek.
func (t *ptree[T]) putAt(p *path[T], it item[T], o *owner) {
	if t.root == nil {
		t.root = &pnode[T]{owner: o, items: make([]item[T], 0, leafMax+1)}
		t.root.appendItems(it)
		t.length = 1
		return
	}
	// Make the path o's, from the root down.
	n := t.root.mutable(o)
	t.root = n
	p.nodes[0] = n
	for d := 1; d < p.depth; d++ {
		parent := p.nodes[d-1]
		n = parent.children[p.idx[d-1]].mutable(o)
		parent.children[p.idx[d-1]] = n
		p.nodes[d] = n
	}
	leaf, i := p.nodes[p.depth-1], p.idx[p.depth-1]
	if p.found {
		leaf.setItem(i, it)
		return
	}
	t.length++
	leaf.insertItem(i, it)
	// Split overflowing nodes, from the leaf up.
	for d := p.depth - 1; d >= 0; d-- {
		n := p.nodes[d]
		var sep item[T]
		var right *pnode[T]
		if n.leaf() {
			if len(n.items) <= leafMax {
				return
			}
			h := len(n.items) / 2
			right = &pnode[T]{owner: o, items: make([]item[T], 0, leafMax+1)}
			right.appendItems(n.items[h:]...)
			n.truncateItems(h)
			sep = right.items[0]
		} else {
			if len(n.children) <= innerMax {
				return
			}
			h := len(n.children) / 2
			right = &pnode[T]{owner: o, items: make([]item[T], 0, innerMax+1), children: make([]*pnode[T], len(n.children)-h, innerMax+1)}
			right.appendItems(n.items[h:]...)
			copy(right.children, n.children[h:])
			sep = right.items[0]
			right.setItem(0, item[T]{})
			n.truncateItems(h)
			clear(n.children[h:])
			n.children = n.children[:h]
		}
		sep.obj = nil
		if d == 0 {
			root := &pnode[T]{owner: o, items: make([]item[T], 0, innerMax+1), children: make([]*pnode[T], 2, innerMax+1)}
			root.appendItems(item[T]{}, sep)
			root.children[0], root.children[1] = n, right
			t.root = root
			return
		}
		parent, pi := p.nodes[d-1], p.idx[d-1]
		parent.insertItem(pi+1, sep)
		parent.children = insertAt(parent.children, pi+1, right)
	}
}

func insertAt[E any](s []E, i int, e E) []E {
	var zero E
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = e
	return s
}

func removeAt[E any](s []E, i int) []E {
	copy(s[i:], s[i+1:])
	var zero E
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// delete removes the item equal to k, writing through o's nodes. It
// returns whether there was one.
func (t *ptree[T]) delete(k *ikey, o *owner) bool {
	if t.root == nil {
		return false
	}
	if _, ok := t.get(k); !ok {
		return false
	}
	t.root = t.root.mutable(o)
	t.root.delete(k, o)
	t.length--
	switch {
	case t.root.leaf() && len(t.root.items) == 0:
		t.root = nil
	case !t.root.leaf() && len(t.root.children) == 1:
		t.root = t.root.children[0]
	}
	return true
}

// delete removes k, which is in the subtree of n, which o owns. Children
// left with too few items borrow from or merge with a sibling.
func (n *pnode[T]) delete(k *ikey, o *owner) {
	if n.leaf() {
		i, _ := n.search(k)
		n.removeItem(i)
		return
	}
	ci := n.child(k)
	c := n.children[ci].mutable(o)
	n.children[ci] = c
	c.delete(k, o)
	if c.leaf() && len(c.items) >= leafMin || !c.leaf() && len(c.children) >= innerMin {
		return
	}
	// Rebalance c with its left sibling, or its right one if it has none.
	li := ci - 1
	if ci == 0 {
		li = 0
	}
	l := n.children[li].mutable(o)
	r := n.children[li+1].mutable(o)
	n.children[li], n.children[li+1] = l, r
	if l.leaf() {
		switch {
		case len(l.items)+len(r.items) <= leafMax:
			l.appendItems(r.items...)
			n.removeItem(li + 1)
			n.children = removeAt(n.children, li+1)
		case len(l.items) > len(r.items):
			// r takes l's last item.
			r.insertItem(0, l.items[len(l.items)-1])
			l.removeItem(len(l.items) - 1)
			n.setSep(li+1, r.items[0])
		default:
			// l takes r's first item.
			l.appendItems(r.items[0])
			r.removeItem(0)
			n.setSep(li+1, r.items[0])
		}
		return
	}
	switch {
	case len(l.children)+len(r.children) <= innerMax:
		// r's unused items[0] takes the separator between l and r.
		l.appendItems(n.items[li+1])
		l.appendItems(r.items[1:]...)
		l.children = append(l.children, r.children...)
		n.removeItem(li + 1)
		n.children = removeAt(n.children, li+1)
	case len(l.children) > len(r.children):
		// r takes l's last child; the separator rotates through n.
		r.setItem(0, n.items[li+1])
		r.insertItem(0, item[T]{})
		r.children = insertAt(r.children, 0, l.children[len(l.children)-1])
		n.setSep(li+1, l.items[len(l.items)-1])
		l.removeItem(len(l.items) - 1)
		l.children = removeAt(l.children, len(l.children)-1)
	default:
		// l takes r's first child.
		l.appendItems(n.items[li+1])
		l.children = append(l.children, r.children[0])
		n.setSep(li+1, r.items[1])
		r.removeItem(0)
		r.setItem(0, item[T]{})
		r.children = removeAt(r.children, 0)
	}
}

// setSep sets a separator: an item's key without its object.
func (n *pnode[T]) setSep(i int, it item[T]) {
	it.obj = nil
	n.setItem(i, it)
}

// ascend calls fn for every item not less than from (every item if from
// is nil), in order, until fn returns false. It returns false if fn did.
func (t *ptree[T]) ascend(from *ikey, fn func(*item[T]) bool) bool {
	if t.root == nil {
		return true
	}
	return t.root.ascend(from, fn)
}

func (n *pnode[T]) ascend(from *ikey, fn func(*item[T]) bool) bool {
	if n.leaf() {
		i := 0
		if from != nil {
			i, _ = n.search(from)
		}
		for ; i < len(n.items); i++ {
			if !fn(&n.items[i]) {
				return false
			}
		}
		return true
	}
	ci := 0
	if from != nil {
		ci = n.child(from)
	}
	if !n.children[ci].ascend(from, fn) {
		return false
	}
	for _, c := range n.children[ci+1:] {
		if !c.ascend(nil, fn) {
			return false
		}
	}
	return true
}
