package api

import (
	"net/http"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/shoal-dev/shoal/api/convert"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// Secrets and configs. A secret's data goes into the store and never comes
// out through this API: no answer and no log line holds it.
//
// The two kinds are kept the same way, so one set of handlers serves both,
// each over an objKind that names what differs: the store's lookups, the
// conversions and the operations.

// objKind describes one kind of named object the API lists, creates,
// inspects, updates (labels only) and removes: M is the stored object and
// P its stored spec, S the Docker spec a client sends and D the Docker
// object it gets back.
type objKind[M, P, S, D any] struct {
	noun       string // in messages: "secret", "config"
	all        func(tx state.ReadTx) ([]*M, error)
	find       func(tx state.ReadTx, ref string) (*M, error)
	meta       func(m *M) (id, name string, labels map[string]string)
	toDocker   func(m *M) D
	fromDocker func(in S) (P, error) // a new spec
	updateFrom func(in S) (P, error) // a changed spec
	// createOp stores a new object; answer is the 201 body with its ID.
	createOp func(spec P) (op state.Op, answer any)
	updateOp func(id string, spec P, version uint64) state.Op
	deleteOp state.OpType
}

var secretKind = objKind[model.Secret, model.SecretSpec, swarm.SecretSpec, swarm.Secret]{
	noun:       "secret",
	all:        func(tx state.ReadTx) ([]*model.Secret, error) { return tx.FindSecrets(state.All) },
	find:       findSecret,
	meta:       func(m *model.Secret) (string, string, map[string]string) { return m.ID, m.Spec.Name, m.Spec.Labels },
	toDocker:   convert.SecretToDocker,
	fromDocker: convert.SecretSpecFromDocker,
	updateFrom: convert.SecretUpdateFromDocker,
	createOp: func(spec model.SecretSpec) (state.Op, any) {
		sec := &model.Secret{ID: model.NewID(), Spec: spec}
		return state.Op{Type: state.OpCreateSecret, Secret: sec}, swarm.SecretCreateResponse{ID: sec.ID}
	},
	updateOp: func(id string, spec model.SecretSpec, version uint64) state.Op {
		return state.Op{Type: state.OpUpdateSecret, Secret: &model.Secret{ID: id, Spec: spec}, Version: version}
	},
	deleteOp: state.OpDeleteSecret,
}

var configKind = objKind[model.Config, model.ConfigSpec, swarm.ConfigSpec, swarm.Config]{
	noun:       "config",
	all:        func(tx state.ReadTx) ([]*model.Config, error) { return tx.FindConfigs(state.All) },
	find:       findConfig,
	meta:       func(m *model.Config) (string, string, map[string]string) { return m.ID, m.Spec.Name, m.Spec.Labels },
	toDocker:   convert.ConfigToDocker,
	fromDocker: convert.ConfigSpecFromDocker,
	updateFrom: convert.ConfigUpdateFromDocker,
	createOp: func(spec model.ConfigSpec) (state.Op, any) {
		c := &model.Config{ID: model.NewID(), Spec: spec}
		return state.Op{Type: state.OpCreateConfig, Config: c}, swarm.ConfigCreateResponse{ID: c.ID}
	},
	updateOp: func(id string, spec model.ConfigSpec, version uint64) state.Op {
		return state.Op{Type: state.OpUpdateConfig, Config: &model.Config{ID: id, Spec: spec}, Version: version}
	},
	deleteOp: state.OpDeleteConfig,
}

// nameFilter matches Docker's secret and config list filters: names are
// exact names, name are name prefixes, id are ID prefixes.
func nameFilter(f filters.Args, id, name string, labels map[string]string) bool {
	if names := f.Get("names"); len(names) > 0 {
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if !found {
			return false
		}
	}
	return matchPrefix(id, f.Get("id")) && matchPrefix(name, f.Get("name")) && matchLabels(labels, f.Get("label"))
}

// listObjects answers GET /secrets?filters= and GET /configs?filters=.
func listObjects[M, P, S, D any](s *Server, k objKind[M, P, S, D]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		f, err := filtersParam(r, "id", "label", "name", "names")
		if err != nil {
			return err
		}
		out := []D{}
		err = s.view(r.Context(), func(tx state.ReadTx) error {
			all, err := k.all(tx)
			for _, m := range all {
				if id, name, labels := k.meta(m); nameFilter(f, id, name, labels) {
					out = append(out, k.toDocker(m))
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

// inspectObject answers GET /secrets/{id} and GET /configs/{id}, by ID,
// name or ID prefix.
func inspectObject[M, P, S, D any](s *Server, k objKind[M, P, S, D]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var out D
		err := s.view(r.Context(), func(tx state.ReadTx) error {
			m, err := k.find(tx, r.PathValue("id"))
			if err == nil {
				out = k.toDocker(m)
			}
			return err
		})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

// createObject answers POST /secrets/create and POST /configs/create with
// 201 {ID}.
func createObject[M, P, S, D any](s *Server, k objKind[M, P, S, D]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in S
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		spec, err := k.fromDocker(in)
		if err != nil {
			return err
		}
		op, answer := k.createOp(spec)
		if err := s.propose(r.Context(), op); err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, answer)
	}
}

// updateObject answers POST /secrets/{id}/update?version= and its configs
// twin: only the labels may change; the store refuses a new name or new
// data with Docker's message.
func updateObject[M, P, S, D any](s *Server, k objKind[M, P, S, D]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		version, err := versionParam(r, k.noun)
		if err != nil {
			return err
		}
		var in S
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		spec, err := k.updateFrom(in)
		if err != nil {
			return err
		}
		id, err := objectID(s, r, k)
		if err != nil {
			return err
		}
		if err := s.propose(r.Context(), k.updateOp(id, spec, version)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

// removeObject answers DELETE /secrets/{id} and DELETE /configs/{id} with
// 204; the store refuses one a service uses.
func removeObject[M, P, S, D any](s *Server, k objKind[M, P, S, D]) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := objectID(s, r, k)
		if err != nil {
			return err
		}
		if err := s.propose(r.Context(), state.Op{Type: k.deleteOp, ID: id}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// objectID resolves the request's {id} to the object's full ID.
func objectID[M, P, S, D any](s *Server, r *http.Request, k objKind[M, P, S, D]) (string, error) {
	var id string
	err := s.view(r.Context(), func(tx state.ReadTx) error {
		m, err := k.find(tx, r.PathValue("id"))
		if err == nil {
			id, _, _ = k.meta(m)
		}
		return err
	})
	return id, err
}
