package stack

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// fakeManager is an in-memory manager of the objects a stack makes. It
// filters lists by label and name as a manager does, refuses a duplicate
// name, and records every write.
type fakeManager struct {
	mu       sync.Mutex
	next     int
	services map[string]*swarm.Service
	networks map[string]*network.Summary
	secrets  map[string]*swarm.Secret
	configs  map[string]*swarm.Config
	writes   []string
}

var _ Client = (*fakeManager)(nil)

func newFakeManager() *fakeManager {
	return &fakeManager{services: map[string]*swarm.Service{}, networks: map[string]*network.Summary{},
		secrets: map[string]*swarm.Secret{}, configs: map[string]*swarm.Config{}}
}

func (f *fakeManager) id() string { f.next++; return fmt.Sprintf("id%03d", f.next) }

func (f *fakeManager) write(s string) { f.writes = append(f.writes, s) }

func matches(args filters.Args, name string, labels map[string]string) bool {
	for _, l := range args.Get("label") {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	if names := args.Get("name"); len(names) > 0 {
		found := false
		for _, n := range names {
			found = found || strings.HasPrefix(name, n)
		}
		return found
	}
	return true
}

func (f *fakeManager) ServiceList(_ context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []swarm.Service
	for _, s := range f.services {
		if matches(o.Filters, s.Spec.Name, s.Spec.Labels) {
			out = append(out, *s)
		}
	}
	return out, nil
}

func (f *fakeManager) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, _ swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.services {
		if s.Spec.Name == spec.Name {
			return swarm.ServiceCreateResponse{}, fmt.Errorf("service name %s is already in use", spec.Name)
		}
	}
	for _, n := range spec.TaskTemplate.Networks {
		if f.networkByName(n.Target) == nil {
			return swarm.ServiceCreateResponse{}, fmt.Errorf("network %s not found", n.Target)
		}
	}
	id := f.id()
	f.services[id] = &swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	f.write("service create " + spec.Name)
	return swarm.ServiceCreateResponse{ID: id}, nil
}

func (f *fakeManager) networkByName(name string) *network.Summary {
	for _, n := range f.networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (f *fakeManager) ServiceUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, _ swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	if s == nil {
		return swarm.ServiceUpdateResponse{}, fmt.Errorf("service %s not found", id)
	}
	if s.Version != v {
		return swarm.ServiceUpdateResponse{}, fmt.Errorf("update out of sequence")
	}
	s.Spec = spec
	s.Version.Index++
	f.write("service update " + spec.Name)
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *fakeManager) ServiceRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write("service rm " + f.services[id].Spec.Name)
	delete(f.services, id)
	return nil
}

func (f *fakeManager) TaskList(context.Context, swarm.TaskListOptions) ([]swarm.Task, error) {
	return nil, nil
}

func (f *fakeManager) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	return nil, nil
}

func (f *fakeManager) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Summary
	for _, n := range f.networks {
		if matches(o.Filters, n.Name, n.Labels) {
			out = append(out, *n)
		}
	}
	return out, nil
}

func (f *fakeManager) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.networkByName(name) != nil {
		return network.CreateResponse{}, fmt.Errorf("network with name %s already exists", name)
	}
	id := f.id()
	f.networks[id] = &network.Summary{ID: id, Name: name, Driver: o.Driver, Labels: o.Labels, Scope: "swarm"}
	f.write("network create " + name)
	return network.CreateResponse{ID: id}, nil
}

func (f *fakeManager) NetworkRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.services {
		for _, n := range s.Spec.TaskTemplate.Networks {
			if n.Target == f.networks[id].Name {
				return fmt.Errorf("network %s is in use by service %s", n.Target, s.Spec.Name)
			}
		}
	}
	f.write("network rm " + f.networks[id].Name)
	delete(f.networks, id)
	return nil
}

func (f *fakeManager) SecretList(_ context.Context, o swarm.SecretListOptions) ([]swarm.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []swarm.Secret
	for _, s := range f.secrets {
		if matches(o.Filters, s.Spec.Name, s.Spec.Labels) {
			c := *s
			c.Spec.Data = nil // never returned
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeManager) SecretCreate(_ context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.secrets[id] = &swarm.Secret{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	f.write("secret create " + spec.Name)
	return swarm.SecretCreateResponse{ID: id}, nil
}

func (f *fakeManager) SecretUpdate(_ context.Context, id string, v swarm.Version, spec swarm.SecretSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[id]
	if string(s.Spec.Data) != string(spec.Data) {
		return fmt.Errorf("only updates to Labels are allowed")
	}
	s.Spec.Labels = spec.Labels
	s.Version.Index++
	f.write("secret update " + spec.Name)
	return nil
}

func (f *fakeManager) SecretRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write("secret rm " + f.secrets[id].Spec.Name)
	delete(f.secrets, id)
	return nil
}

func (f *fakeManager) ConfigList(_ context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []swarm.Config
	for _, c := range f.configs {
		if matches(o.Filters, c.Spec.Name, c.Spec.Labels) {
			out = append(out, *c)
		}
	}
	return out, nil
}

func (f *fakeManager) ConfigCreate(_ context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.configs[id] = &swarm.Config{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	f.write("config create " + spec.Name)
	return swarm.ConfigCreateResponse{ID: id}, nil
}

func (f *fakeManager) ConfigUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ConfigSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configs[id].Spec.Labels = spec.Labels
	f.write("config update " + spec.Name)
	return nil
}

func (f *fakeManager) ConfigRemove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write("config rm " + f.configs[id].Spec.Name)
	delete(f.configs, id)
	return nil
}
