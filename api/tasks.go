package api

import (
	"net/http"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// taskFilter is a parsed ?filters= of GET /tasks.
type taskFilter struct {
	f        filters.Args
	services map[string]bool // resolved service IDs, nil for any
	nodes    map[string]bool // resolved node IDs, nil for any
	desired  map[model.TaskState]bool
	upToDate bool
}

// parseTaskFilter validates the filters of GET /tasks, Docker's set.
// Service and node filters name objects by reference (ID, name, prefix)
// and are resolved against the snapshot tx, as Docker resolves them: a
// reference to nothing is a 404.
func parseTaskFilter(r *http.Request) (taskFilter, error) {
	f, err := filtersParam(r, "id", "name", "label", "service", "node", "desired-state", "_up-to-date", "runtime")
	if err != nil {
		return taskFilter{}, err
	}
	tf := taskFilter{f: f, upToDate: f.Contains("_up-to-date")}
	if f.Contains("desired-state") {
		tf.desired = map[model.TaskState]bool{}
		for _, v := range f.Get("desired-state") {
			st, err := model.ParseTaskState(v)
			if err != nil {
				return taskFilter{}, filterError("desired-state", v, "desired-state=running, shutdown, accepted or another task state")
			}
			tf.desired[st] = true
		}
	}
	return tf, nil
}

func (tf *taskFilter) resolve(tx state.ReadTx) error {
	if tf.f.Contains("service") {
		tf.services = map[string]bool{}
		for _, ref := range tf.f.Get("service") {
			svc, err := findService(tx, ref)
			if err != nil {
				return err
			}
			tf.services[svc.ID] = true
		}
	}
	if tf.f.Contains("node") {
		tf.nodes = map[string]bool{}
		for _, ref := range tf.f.Get("node") {
			n, err := findNode(tx, ref)
			if err != nil {
				return err
			}
			tf.nodes[n.ID] = true
		}
	}
	return nil
}

// match tells whether task t passes the filter. Labels are the labels of
// the task's service; `_up-to-date` keeps the tasks made from their
// service's current spec (model.TaskUpToDate).
func (tf *taskFilter) match(tx state.ReadTx, t *model.Task) bool {
	if !matchPrefix(t.ID, tf.f.Get("id")) || !matchPrefixFold(t.Name()+"."+t.ID, tf.f.Get("name")) ||
		!matchSet(t.ServiceID, tf.services) || !matchSet(t.NodeID, tf.nodes) || !runtimeMatches(tf.f.Get("runtime")) {
		return false
	}
	if tf.desired != nil && !tf.desired[t.DesiredState] {
		return false
	}
	if labels := tf.f.Get("label"); len(labels) > 0 || tf.upToDate {
		svc := tx.GetService(t.ServiceID)
		if svc == nil {
			return false
		}
		if !matchLabels(svc.Spec.Labels, labels) || tf.upToDate && !model.TaskUpToDate(t, svc) {
			return false
		}
	}
	return true
}

// listTasks answers GET /tasks?filters=.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	tf, err := parseTaskFilter(r)
	if err != nil {
		return err
	}
	out := []swarm.Task{}
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		if err := tf.resolve(tx); err != nil {
			return err
		}
		// Use an index when the filter names one service or node.
		by := state.All
		switch {
		case len(tf.services) == 1:
			for id := range tf.services {
				by = state.ByServiceID(id)
			}
		case len(tf.nodes) == 1:
			for id := range tf.nodes {
				by = state.ByNodeID(id)
			}
		}
		return tx.ForEachTask(by, func(t *model.Task) bool {
			if tf.match(tx, t) {
				dt := convert.TaskToDocker(t, tx.GetService(t.ServiceID))
				dt.NetworksAttachments = convert.TaskNetworksToDocker(t, tx.GetNetwork)
				out = append(out, dt)
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// inspectTask answers GET /tasks/{id}.
func (s *Server) inspectTask(w http.ResponseWriter, r *http.Request) error {
	var out swarm.Task
	err := s.view(r.Context(), func(tx state.ReadTx) error {
		t, err := findTask(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		out = convert.TaskToDocker(t, tx.GetService(t.ServiceID))
		out.NetworksAttachments = convert.TaskNetworksToDocker(t, tx.GetNetwork)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}
