package format

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	units "github.com/docker/go-units"
)

// TaskContext is what a task table needs besides the tasks: names for the
// IDs they carry, and the time to count "ago" from.
type TaskContext struct {
	// ServiceNames and NodeNames map IDs to names (hostnames for nodes);
	// an ID missing from them is shown as it is.
	ServiceNames map[string]string
	NodeNames    map[string]string
	Now          time.Time
}

// TaskRow is a task as `service ps --format json` prints it.
type TaskRow struct {
	ID           string
	Name         string
	Image        string
	Node         string
	DesiredState string
	CurrentState string
	Error        string
	Ports        string
}

// maxErrLength is how much of a task's error a truncated table shows.
const maxErrLength = 30

// TaskName is the name Docker gives a task: SERVICE.SLOT for a replicated
// service, SERVICE.NODEID for a global one.
func TaskName(t swarm.Task, serviceName string) string {
	if serviceName == "" {
		serviceName = t.ServiceID
	}
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d", serviceName, t.Slot)
	}
	return serviceName + "." + t.NodeID
}

// Tasks renders tasks as `service ps` shows them: ID NAME IMAGE NODE
// DESIRED STATE CURRENT STATE ERROR PORTS, the tasks of one slot together,
// newest first; in a table the older ones are indented with " \_ ", so a
// slot's history reads as a tree.
func Tasks(tasks []swarm.Task, tc TaskContext, opts ListOptions) *Listing {
	type named struct {
		swarm.Task
		name string
	}
	sorted := make([]named, 0, len(tasks))
	for _, t := range tasks {
		sorted = append(sorted, named{t, TaskName(t, tc.ServiceNames[t.ServiceID])})
	}
	slices.SortStableFunc(sorted, func(a, b named) int {
		if a.name != b.name {
			if NaturalLess(a.name, b.name) {
				return -1
			}
			return 1
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	l := &Listing{Header: []string{"ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"}}
	prev := ""
	for _, t := range sorted {
		image := containerImage(t.Spec)
		shownImage, shownErr := image, oneLine(t.Status.Err)
		if !opts.NoTrunc {
			shownImage = DisplayImage(image)
			shownErr = Ellipsis(shownErr, maxErrLength)
		}
		if shownErr != "" {
			shownErr = `"` + shownErr + `"`
		}
		node := tc.NodeNames[t.NodeID]
		if node == "" {
			node = t.NodeID
		}
		row := TaskRow{
			ID:           t.ID,
			Name:         t.name,
			Image:        image,
			Node:         node,
			DesiredState: Capitalize(string(t.DesiredState)),
			CurrentState: CurrentState(t.Status, tc.Now),
			Error:        t.Status.Err,
			Ports:        Ports(t.Status.PortStatus.Ports),
		}
		name := row.Name
		if name == prev {
			name = ` \_ ` + name
		}
		prev = row.Name
		l.IDs = append(l.IDs, ShortID(t.ID, opts.NoTrunc))
		l.Objects = append(l.Objects, row)
		l.Rows = append(l.Rows, []string{ShortID(t.ID, opts.NoTrunc), name, shownImage, row.Node, row.DesiredState, row.CurrentState, shownErr, row.Ports})
	}
	return l
}

// CurrentState is "Running 5 minutes ago": the observed state and how long
// ago it was reported.
func CurrentState(st swarm.TaskStatus, now time.Time) string {
	state := Capitalize(string(st.State))
	if st.Timestamp.IsZero() {
		return state
	}
	return state + " " + Ago(st.Timestamp, now)
}

// Ago is "5 minutes ago", as Docker words it.
func Ago(t, now time.Time) string {
	return strings.ToLower(units.HumanDuration(now.Sub(t))) + " ago"
}

// NaturalLess orders strings with their digit runs compared as numbers, so
// web.2 comes before web.10.
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := cutDigits(a)
			nb, rb := cutDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func cutDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
