package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Networks: every network is a swarm-scoped overlay network stored in the
// cluster; there are no local networks.

// listNetworks answers GET /networks?filters=.
func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r, "dangling", "driver", "id", "label", "name", "scope", "type")
	if err != nil {
		return err
	}
	for _, v := range f.Get("type") {
		if v != "custom" && v != "builtin" {
			return badRequest("invalid filter: 'type'='%s'", v)
		}
	}
	for _, v := range f.Get("scope") {
		if v != "swarm" && v != "global" && v != "local" {
			return badRequest("invalid filter: 'scope'='%s'", v)
		}
	}
	dangling, err := danglingFilter(f)
	if err != nil {
		return err
	}
	out := []network.Summary{}
	err = s.view(r.Context(), func(tx state.ReadTx) error {
		nets, err := tx.FindNetworks(state.All)
		if err != nil {
			return err
		}
		var used map[string]bool
		if dangling != nil {
			if used, err = networksInUse(tx); err != nil {
				return err
			}
		}
		for _, n := range nets {
			if !matchRegexp(f, "name", n.Spec.Name) || !matchRegexp(f, "id", n.ID) ||
				!matchLabels(n.Spec.Labels, f.Get("label")) ||
				f.Contains("driver") && !f.ExactMatch("driver", n.Spec.Driver) ||
				// Swarm networks are custom networks, of scope swarm.
				f.Contains("type") && !f.ExactMatch("type", "custom") ||
				f.Contains("scope") && !f.ExactMatch("scope", convert.ScopeSwarm) ||
				dangling != nil && used[n.ID] == *dangling {
				continue
			}
			out = append(out, convert.NetworkToDocker(n))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchRegexp is Docker's filters.Args.Match for names and IDs: a value
// matches exactly or as a regular expression found in s.
func matchRegexp(f filters.Args, key, s string) bool {
	values := f.Get(key)
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if v == s {
			return true
		}
		if re, err := regexp.Compile(v); err == nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// danglingFilter reads the dangling filter: nil when absent.
func danglingFilter(f filters.Args) (*bool, error) {
	values := f.Get("dangling")
	if len(values) == 0 {
		return nil, nil
	}
	var d bool
	for i, v := range values {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
		default:
			return nil, badRequest("invalid filter 'dangling=%s'", v)
		}
		if i > 0 && b != d {
			return nil, badRequest("invalid filter 'dangling': both true and false")
		}
		d = b
	}
	return &d, nil
}

// networksInUse returns the networks some service attaches its tasks to
// (the ingress network counts as used by services publishing ingress
// ports).
func networksInUse(tx state.ReadTx) (map[string]bool, error) {
	services, err := tx.FindServices(state.All)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, svc := range services {
		for _, a := range svc.Spec.Task.Networks {
			used[a.Target] = true
		}
		if svc.Endpoint != nil {
			for _, v := range svc.Endpoint.VirtualIPs {
				used[v.NetworkID] = true
			}
		}
	}
	return used, nil
}

// inspectNetwork answers GET /networks/{id}?scope=&verbose=. A scope
// other than swarm finds nothing: shoal has no local networks.
func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	if _, err := boolParam(r, "verbose"); err != nil {
		return err
	}
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", convert.ScopeSwarm, "global":
	case "local":
		return notFound("network %s not found", ref)
	default:
		return badRequest("invalid scope '%s': want swarm, global or local", scope)
	}
	var out network.Inspect
	err := s.view(r.Context(), func(tx state.ReadTx) error {
		n, err := findNetwork(tx, ref)
		if err != nil {
			return err
		}
		out = convert.NetworkToDocker(n)
		// Its running tasks and their nodes, as Docker shows a
		// network's containers and peers.
		tasks, err := tx.FindTasks(state.All)
		if err != nil {
			return err
		}
		nodes := map[string]*model.Node{}
		for _, t := range tasks {
			if _, ok := nodes[t.NodeID]; !ok && t.NodeID != "" {
				nodes[t.NodeID] = tx.GetNode(t.NodeID)
			}
		}
		convert.NetworkAttachments(&out, tasks, nodes)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// createNetwork answers POST /networks/create with 201 {Id, Warning}. A
// name in use is refused (409) by the store, atomically.
func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	spec, err := convert.NetworkSpecFromDocker(req)
	if err != nil {
		return err
	}
	n := &model.Network{ID: model.NewID(), Spec: spec}
	if err := s.propose(r.Context(), state.Op{Type: state.OpCreateNetwork, Network: n}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
}

// removeNetwork answers DELETE /networks/{id} with 204. The store refuses
// a network that a service or a running task uses.
func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request) error {
	var id string
	if err := s.view(r.Context(), func(tx state.ReadTx) error {
		n, err := findNetwork(tx, r.PathValue("id"))
		if err != nil {
			return err
		}
		id = n.ID
		return nil
	}); err != nil {
		return err
	}
	if err := s.propose(r.Context(), state.Op{Type: state.OpDeleteNetwork, ID: id}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
