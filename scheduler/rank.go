package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Ranking is kept apart from filtering: filters decide which nodes can take
// a task, and how many; ranking orders the nodes that can. Both strategies
// rank nodes with recent failures of the service last.

// candidate is a node that passed the filters for the group being placed,
// with the counters ranking reads. They include the tasks placed so far in
// the batch, so that a node's rank moves as it receives tasks.
type candidate struct {
	node    *NodeInfo
	id      string
	failing bool // FailureThreshold recent failures of the service
	service int  // active tasks of the service
	active  int  // active tasks of all services
	room    int  // further tasks of the group the node can take, or unlimited
	placed  int  // tasks of the group placed on the node in this batch
	// order is the candidate's position in the order of node IDs, which
	// the strategies compare before the IDs: a spread batch breaks ties on
	// nearly every comparison, and a large one numbers its candidates
	// (numberByID) rather than compare their IDs. Zero for all otherwise.
	order int
}

// numberByID sets the order of each candidate.
func numberByID(cands []candidate) {
	idx := make([]int32, len(cands))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		return cmp.Or(strings.Compare(cands[a].id, cands[b].id), cmp.Compare(a, b))
	})
	for k, i := range idx {
		cands[i].order = k
	}
}

// unlimited is the room of a node nothing limits. It stays unlimited as
// the node takes tasks, so that binpack does not prefer a node for having
// taken some.
const unlimited = math.MaxInt

// take records that c receives one task of the group.
func (c *candidate) take() {
	c.service++
	c.active++
	if c.room != unlimited {
		c.room--
	}
	c.placed++
}

// lessFunc tells whether a should receive the next task before b. It is a
// strict total order: node IDs break every tie, so placements do not depend
// on the order of the nodes given.
type lessFunc func(a, b *candidate) bool

// fillFunc places up to n tasks one at a time, each on the best candidate
// by a strategy's order, a candidate leaving once full, and returns how
// many it placed. assign is called once per task with the chosen
// candidate. It may reorder cands.
type fillFunc func(cands []*candidate, n int, assign func(*candidate)) int

func strategyLess(s model.PlacementStrategy) (lessFunc, error) {
	switch s {
	case "", model.StrategySpread:
		return spreadLess, nil
	case model.StrategyBinpack:
		return binpackLess, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownStrategy, s)
}

// spreadLess prefers, in order: a node without recent failures of the
// service; fewer tasks of the service; fewer active tasks overall; the
// smaller node ID (order, then ID).
func spreadLess(a, b *candidate) bool {
	if a.failing != b.failing {
		return b.failing
	}
	if a.service != b.service {
		return a.service < b.service
	}
	if a.active != b.active {
		return a.active < b.active
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.id < b.id
}

// byID orders candidates by node ID: their order, then their IDs.
func byID(a, b *candidate) int {
	if a.order != b.order {
		return cmp.Compare(a.order, b.order)
	}
	return strings.Compare(a.id, b.id)
}

// binpackLess prefers, in order: a node without recent failures of the
// service; less room, that is fewer further tasks of this group fit (the
// tightest fit in the task's own reservations, max replicas and ports);
// more tasks of the service; more active tasks overall; the smaller node
// ID (order, then ID). Taking a task only shrinks a node's room, so a node keeps receiving
// tasks until it is full and untouched nodes stay empty.
func binpackLess(a, b *candidate) bool {
	if a.failing != b.failing {
		return b.failing
	}
	if a.room != b.room {
		return a.room < b.room
	}
	if a.service != b.service {
		return a.service > b.service
	}
	if a.active != b.active {
		return a.active > b.active
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.id < b.id
}

// minHeap is a binary min-heap under a less function, written out rather
// than with container/heap to avoid boxing on the hot path. The backing
// slice keeps every item: popTop moves the top past the end.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// down restores the heap after items[i] became worse.
func (h *minHeap[T]) down(i int) {
	items, n := h.items, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(items[r], items[l]) {
			m = r
		}
		if !h.less(items[m], items[i]) {
			return
		}
		items[i], items[m] = items[m], items[i]
		i = m
	}
}

func (h *minHeap[T]) popTop() {
	last := len(h.items) - 1
	h.items[0], h.items[last] = h.items[last], h.items[0]
	h.items = h.items[:last]
	if last > 0 {
		h.down(0)
	}
}

// fillNodes is a fillFunc for any order, with a heap: O(log c) steps per
// task for c candidates.
func fillNodes(cands []*candidate, less lessFunc, n int, assign func(*candidate)) int {
	h := minHeap[*candidate]{items: cands, less: less}
	h.init()
	placed := 0
	for placed < n && len(h.items) > 0 {
		c := h.items[0]
		c.take()
		assign(c)
		placed++
		if c.room == 0 {
			h.popTop()
		} else {
			// Spread made c worse; binpack made it better, and down
			// then returns at once.
			h.down(0)
		}
	}
	return placed
}

// fillSpread is fillNodes(cands, spreadLess, n, assign) without the heap's
// O(log c) steps per task, which made most of the placement of a batch of
// many more tasks than nodes.
// Taking a task moves a spread candidate from (service s, active a) to
// (s+1, a+1): every candidate with the fewest tasks of the service, s,
// comes before every other, and they keep their order by (active, ID)
// when they move on to s+1. So the candidates at s take one task each in
// that order, those with room left join the ones already at s+1, merged in
// the same order, and so on: the heap's sequence of choices, in O(n + c log
// c). Candidates with recent failures come after all the others, and fill
// the same way once those are full.
func fillSpread(cands []*candidate, n int, assign func(*candidate)) int {
	var ok, failing []*candidate
	for _, c := range cands {
		if c.failing {
			failing = append(failing, c)
		} else {
			ok = append(ok, c)
		}
	}
	placed := waterFill(ok, n, assign)
	if placed < n && len(failing) > 0 {
		placed += waterFill(failing, n-placed, assign)
	}
	return placed
}

// waterFill is fillSpread among candidates that all fail or all do not.
func waterFill(cands []*candidate, n int, assign func(*candidate)) int {
	byActive := func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(a.active, b.active), byID(a, b))
	}
	slices.SortFunc(cands, func(a, b *candidate) int { return cmp.Or(cmp.Compare(a.service, b.service), byActive(a, b)) })
	rest := cands // those with more tasks of the service than the level
	var level, next []*candidate
	i, placed := 0, 0 // level[i] is the next to take a task
	for placed < n {
		if i == len(level) {
			// The next level: the candidates that move up from the
			// last one, merged with those already there.
			if len(next) == 0 && len(rest) == 0 {
				break
			}
			s := 0
			switch {
			case len(next) == 0:
				s = rest[0].service
			case len(rest) == 0:
				s = next[0].service
			default:
				s = min(next[0].service, rest[0].service)
			}
			k := 0
			for k < len(rest) && rest[k].service == s {
				k++
			}
			// next holds candidates at s, or none: the level took one
			// task each, and the rest have more.
			level, i = mergeSorted(level[:0], next, rest[:k], byActive), 0
			rest, next = rest[k:], next[:0]
		}
		c := level[i]
		i++
		c.take()
		assign(c)
		placed++
		if c.room != 0 {
			next = append(next, c)
		}
	}
	return placed
}

// mergeSorted appends the merge of a and b, each sorted by cmp, to dst,
// which must not share memory with them.
func mergeSorted(dst, a, b []*candidate, cmp func(a, b *candidate) int) []*candidate {
	for len(a) > 0 && len(b) > 0 {
		if cmp(a[0], b[0]) <= 0 {
			dst, a = append(dst, a[0]), a[1:]
		} else {
			dst, b = append(dst, b[0]), b[1:]
		}
	}
	dst = append(dst, a...)
	return append(dst, b...)
}
