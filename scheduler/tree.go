package scheduler

// Placement preferences arrange the candidates in a tree: one level per
// preference, one branch per value of its attribute (nodes lacking the
// label form the branch ""). Tasks are divided over the branches of each
// level by water-filling: each task goes to the branch holding the fewest
// tasks of the service that still has room, counting the tasks already
// running there, ties going to the smaller value. Within a leaf the
// strategy ranks the nodes.

// branch is a set of nodes sharing the values of the preferences down to
// its level.
type branch struct {
	value string
	// tasks counts the active tasks of the service on every node of the
	// branch, those the filters refused included: a zone already running
	// the service on a paused node has its share.
	tasks int
	// room is the sum of the room of the branch's candidates, each capped
	// at the size of the group so that the sum cannot overflow.
	room int
	// share is the number of tasks the parent gave the branch.
	share    int
	children []*branch
	cands    []*candidate // leaves only
}

type branchKey struct {
	parent *branch
	value  string
}

// buildTree arranges the candidates under the preferences. nodes and
// serviceTasks give the tasks of the service on every node, candidate or
// not; limit is the number of tasks to place.
func buildTree(prefs []preference, cands []candidate, nodes []*NodeInfo, serviceTasks func(i int) int, limit int) *branch {
	root := &branch{}
	index := make(map[branchKey]*branch)
	for i := range cands {
		c := &cands[i]
		room := min(c.room, limit)
		b := root
		b.room += room
		for _, p := range prefs {
			k := branchKey{parent: b, value: p.branchValue(c.node.node)}
			child := index[k]
			if child == nil {
				child = &branch{value: k.value}
				index[k] = child
				b.children = append(b.children, child)
			}
			child.room += room
			b = child
		}
		b.cands = append(b.cands, c)
	}
	// Branches without candidates do not exist: tasks cannot go there. The
	// tasks of refused nodes count in the branches that do.
	for i, n := range nodes {
		s := serviceTasks(i)
		if s == 0 {
			continue
		}
		root.tasks += s
		b := root
		for _, p := range prefs {
			child := index[branchKey{parent: b, value: p.branchValue(n.node)}]
			if child == nil {
				break
			}
			child.tasks += s
			b = child
		}
	}
	return root
}

func branchLess(a, b *branch) bool {
	if a.tasks != b.tasks {
		return a.tasks < b.tasks
	}
	return a.value < b.value
}

// distribute places up to n tasks in the branch and returns how many it
// placed: fewer only when the branch runs out of room.
func (b *branch) distribute(n int, fill fillFunc, assign func(*candidate)) int {
	if b.children == nil {
		return fill(b.cands, n, assign)
	}
	// First decide each child's share, then place the shares: children
	// are independent, so the order of placement does not matter.
	open := make([]*branch, 0, len(b.children))
	for _, c := range b.children {
		if c.room > 0 {
			open = append(open, c)
		}
	}
	h := minHeap[*branch]{items: open, less: branchLess}
	h.init()
	for k := 0; k < n && len(h.items) > 0; k++ {
		c := h.items[0]
		c.share++
		c.tasks++
		if c.room--; c.room == 0 {
			h.popTop()
		} else {
			h.down(0)
		}
	}
	placed := 0
	for _, c := range b.children {
		if c.share > 0 {
			placed += c.distribute(c.share, fill, assign)
		}
	}
	return placed
}
