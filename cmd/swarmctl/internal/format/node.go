package format

import (
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// NodeRow is a node as `node ls --format json` prints it.
type NodeRow struct {
	ID            string
	Self          bool
	Hostname      string
	Status        string
	Availability  string
	ManagerStatus string
	EngineVersion string
}

// Nodes renders nodes, sorted by hostname, as `node ls` shows them: ID
// HOSTNAME STATUS AVAILABILITY MANAGER STATUS ENGINE VERSION. selfID is the
// node the manager we talk to runs on (GET /info, Swarm.NodeID); its ID is
// marked with a "*".
func Nodes(nodes []swarm.Node, selfID string, opts ListOptions) *Listing {
	sorted := slices.Clone(nodes)
	slices.SortStableFunc(sorted, func(a, b swarm.Node) int {
		if a.Description.Hostname != b.Description.Hostname {
			if NaturalLess(a.Description.Hostname, b.Description.Hostname) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	l := &Listing{Header: []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"}}
	for _, n := range sorted {
		row := NodeRow{
			ID:            n.ID,
			Self:          n.ID == selfID && selfID != "",
			Hostname:      n.Description.Hostname,
			Status:        Capitalize(string(n.Status.State)),
			Availability:  Capitalize(string(n.Spec.Availability)),
			ManagerStatus: ManagerStatus(n.ManagerStatus),
			EngineVersion: n.Description.Engine.EngineVersion,
		}
		id := ShortID(n.ID, opts.NoTrunc)
		l.IDs = append(l.IDs, id)
		if row.Self {
			id += " *"
		}
		l.Objects = append(l.Objects, row)
		l.Rows = append(l.Rows, []string{id, row.Hostname, row.Status, row.Availability, row.ManagerStatus, row.EngineVersion})
	}
	return l
}

// ManagerStatus is the MANAGER STATUS column: Leader, Reachable or
// Unreachable for a manager, empty for a worker.
func ManagerStatus(m *swarm.ManagerStatus) string {
	switch {
	case m == nil:
		return ""
	case m.Leader:
		return "Leader"
	}
	return Capitalize(string(m.Reachability))
}
