package api

import (
	"github.com/shoal-dev/shoal/state"
)

// References name objects as Docker resolves them: the full ID, then the
// name (a node's hostname), then a unique ID prefix. An empty reference
// names nothing.

// findService resolves a service reference.
func findService(tx state.ReadTx, ref string) (*state.Service, error) {
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
	return unique("service", ref, byName, func() ([]*state.Service, error) {
		return tx.FindServices(state.ByIDPrefix(ref))
	})
}

// findNode resolves a node reference; hostnames are its names.
func findNode(tx state.ReadTx, ref string) (*state.Node, error) {
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
	return unique("node", ref, byName, func() ([]*state.Node, error) {
		return tx.FindNodes(state.ByIDPrefix(ref))
	})
}

// findTask resolves a task reference: tasks have no name to look up.
func findTask(tx state.ReadTx, ref string) (*state.Task, error) {
	if ref == "" {
		return nil, notFound("task %s not found", ref)
	}
	if t := tx.GetTask(ref); t != nil {
		return t, nil
	}
	return unique("task", ref, nil, func() ([]*state.Task, error) {
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
