package scheduler

import (
	"fmt"
	"math"

	"github.com/shoal-dev/shoal/state"
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

func strategyLess(s state.PlacementStrategy) (lessFunc, error) {
	switch s {
	case "", state.StrategySpread:
		return spreadLess, nil
	case state.StrategyBinpack:
		return binpackLess, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownStrategy, s)
}

// spreadLess prefers, in order: a node without recent failures of the
// service; fewer tasks of the service; fewer active tasks overall; the
// smaller node ID.
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
	return a.id < b.id
}

// binpackLess prefers, in order: a node without recent failures of the
// service; less room, that is fewer further tasks of this group fit (the
// tightest fit in the task's own reservations, max replicas and ports);
// more tasks of the service; more active tasks overall; the smaller node
// ID. Taking a task only shrinks a node's room, so a node keeps receiving
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

// fillNodes places up to n tasks one at a time on the best candidate, which
// leaves the heap once full, and returns how many it placed. assign is
// called once per task with the chosen candidate. It reorders cands.
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
