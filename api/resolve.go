package api

import (
	"context"
	"errors"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// References name objects as Docker resolves them: the full ID, then the
// name (a node's hostname), then a unique ID prefix. An empty reference
// names nothing.

// findService resolves a service reference.
func findService(tx state.ReadTx, ref string) (*model.Service, error) {
	if ref == "" {
		return nil, notFound("service %s not found", ref)
	}
	if s := tx.GetService(ref); s != nil {
		return s, nil
	}
	byName, err := tx.FindServices(state.ByName(ref))
	if err != nil {
		return nil, err
	}
	return unique("service", ref, byName, func() ([]*model.Service, error) {
		return tx.FindServices(state.ByIDPrefix(ref))
	})
}

// findNode resolves a node reference; hostnames are its names.
func findNode(tx state.ReadTx, ref string) (*model.Node, error) {
	if ref == "" {
		return nil, notFound("node %s not found", ref)
	}
	if n := tx.GetNode(ref); n != nil {
		return n, nil
	}
	byName, err := tx.FindNodes(state.ByName(ref))
	if err != nil {
		return nil, err
	}
	return unique("node", ref, byName, func() ([]*model.Node, error) {
		return tx.FindNodes(state.ByIDPrefix(ref))
	})
}

// findTask resolves a task reference: tasks have no name to look up.
func findTask(tx state.ReadTx, ref string) (*model.Task, error) {
	if ref == "" {
		return nil, notFound("task %s not found", ref)
	}
	if t := tx.GetTask(ref); t != nil {
		return t, nil
	}
	return unique("task", ref, nil, func() ([]*model.Task, error) {
		return tx.FindTasks(state.ByIDPrefix(ref))
	})
}

// unique picks the one object named ref: the one with that name, else the
// one whose ID starts with ref. Several objects with the name (hostnames
// need not be unique), or several with the prefix, are ambiguous, with
// Docker's message.
func unique[T any](kind, ref string, byName []T, byPrefix func() ([]T, error)) (T, error) {
	var zero T
	matches := byName
	if len(matches) == 0 {
		var err error
		if matches, err = byPrefix(); err != nil {
			return zero, err
		}
	}
	switch len(matches) {
	case 0:
		return zero, notFound("%s %s not found", kind, ref)
	case 1:
		return matches[0], nil
	}
	return zero, badRequest("%s %s is ambiguous (%d matches found)", kind, ref, len(matches))
}

// findNetwork resolves a network reference.
func findNetwork(tx state.ReadTx, ref string) (*model.Network, error) {
	if ref == "" {
		return nil, notFound("network %s not found", ref)
	}
	if n := tx.GetNetwork(ref); n != nil {
		return n, nil
	}
	byName, err := tx.FindNetworks(state.ByName(ref))
	if err != nil {
		return nil, err
	}
	return unique("network", ref, byName, func() ([]*model.Network, error) {
		return tx.FindNetworks(state.ByIDPrefix(ref))
	})
}

// findSecret resolves a secret reference.
func findSecret(tx state.ReadTx, ref string) (*model.Secret, error) {
	if ref == "" {
		return nil, notFound("secret %s not found", ref)
	}
	if s := tx.GetSecret(ref); s != nil {
		return s, nil
	}
	byName, err := tx.FindSecrets(state.ByName(ref))
	if err != nil {
		return nil, err
	}
	return unique("secret", ref, byName, func() ([]*model.Secret, error) {
		return tx.FindSecrets(state.ByIDPrefix(ref))
	})
}

// findConfig resolves a config reference.
func findConfig(tx state.ReadTx, ref string) (*model.Config, error) {
	if ref == "" {
		return nil, notFound("config %s not found", ref)
	}
	if c := tx.GetConfig(ref); c != nil {
		return c, nil
	}
	byName, err := tx.FindConfigs(state.ByName(ref))
	if err != nil {
		return nil, err
	}
	return unique("config", ref, byName, func() ([]*model.Config, error) {
		return tx.FindConfigs(state.ByIDPrefix(ref))
	})
}

// resolveServiceRefs resolves what a service spec refers to, as dockerd
// does before it hands a spec to the cluster: network targets given by
// name or ID prefix become IDs, secret and config references given by name
// get their IDs (and the names of those given by ID are filled in). An
// unknown object is answered 404, "network X not found".
//
// A spec whose references are all full IDs that this manager's store
// knows is resolved without a read barrier: the store checks again, by
// ID, when it applies the write. Anything else is resolved after a read
// barrier, so a name is never looked up in a stale store.
func (s *Server) resolveServiceRefs(ctx context.Context, spec *model.ServiceSpec) error {
	t := &spec.Task
	if len(t.Networks) == 0 && len(t.Container.Secrets) == 0 && len(t.Container.Configs) == 0 {
		return nil
	}
	var out refsResolution
	var err error
	_ = s.backend.Store().View(func(tx state.ReadTx) error {
		out, err = resolveRefs(tx, t, true)
		return nil
	})
	if err != nil {
		if err = s.view(ctx, func(tx state.ReadTx) error {
			out, err = resolveRefs(tx, t, false)
			return err
		}); err != nil {
			return err
		}
	}
	t.Networks, t.Container.Secrets, t.Container.Configs = out.networks, out.secrets, out.configs
	return nil
}

type refsResolution struct {
	networks []model.NetworkAttachmentConfig
	secrets  []model.SecretReference
	configs  []model.ConfigReference
}

// errNotByID stops resolveRefs when idsOnly and a reference is not a
// known full ID.
var errNotByID = errors.New("api: a reference is not a known ID")

func resolveRefs(tx state.ReadTx, t *model.TaskSpec, idsOnly bool) (refsResolution, error) {
	var out refsResolution
	seen := map[string]int{}
	for i, a := range t.Networks {
		n := tx.GetNetwork(a.Target)
		if n == nil {
			if idsOnly {
				return out, errNotByID
			}
			var err error
			if n, err = findNetwork(tx, a.Target); err != nil {
				return out, err
			}
		}
		if j, dup := seen[n.ID]; dup {
			return out, badRequest("TaskTemplate.Networks[%d]: network %s is already attached by TaskTemplate.Networks[%d]", i, a.Target, j)
		}
		seen[n.ID] = i
		out.networks = append(out.networks, model.NetworkAttachmentConfig{Target: n.ID, Aliases: a.Aliases})
	}
	for _, r := range t.Container.Secrets {
		sec := tx.GetSecret(r.SecretID)
		if sec == nil {
			if idsOnly || r.SecretID != "" {
				if idsOnly {
					return out, errNotByID
				}
				return out, notFound("secret %s not found", r.SecretID)
			}
			found, err := tx.FindSecrets(state.ByName(r.SecretName))
			if err != nil {
				return out, err
			}
			if len(found) != 1 {
				return out, notFound("secret %s not found", r.SecretName)
			}
			sec = found[0]
		}
		r.SecretID = sec.ID
		if r.SecretName == "" {
			r.SecretName = sec.Spec.Name
		}
		out.secrets = append(out.secrets, r)
	}
	for _, r := range t.Container.Configs {
		c := tx.GetConfig(r.ConfigID)
		if c == nil {
			if idsOnly || r.ConfigID != "" {
				if idsOnly {
					return out, errNotByID
				}
				return out, notFound("config %s not found", r.ConfigID)
			}
			found, err := tx.FindConfigs(state.ByName(r.ConfigName))
			if err != nil {
				return out, err
			}
			if len(found) != 1 {
				return out, notFound("config %s not found", r.ConfigName)
			}
			c = found[0]
		}
		r.ConfigID = c.ID
		if r.ConfigName == "" {
			r.ConfigName = c.Spec.Name
		}
		out.configs = append(out.configs, r)
	}
	return out, nil
}
