package model

import (
	"maps"
	"slices"
)

// Object is any stored object: *Cluster, *Node, *Service, *Task,
// *Network, *Secret or *Config.
//
// Objects handed out by the store are shared and must never be modified in
// place: Copy first. Copies are deep for maps and pointers that the code
// modifies; slices are shared and must be replaced, not written into.
type Object interface {
	GetID() string
	GetMeta() Meta
	Kind() Kind
	// isObject seals the interface: only the model's types are objects.
	isObject()
}

// Kind names an object type.
type Kind string

// Object kinds, also the names of the store's tables.
const (
	KindCluster Kind = "cluster"
	KindNode    Kind = "node"
	KindService Kind = "service"
	KindTask    Kind = "task"
	KindNetwork Kind = "network"
	KindSecret  Kind = "secret"
	KindConfig  Kind = "config"
)

var (
	_ Object = (*Cluster)(nil)
	_ Object = (*Node)(nil)
	_ Object = (*Service)(nil)
	_ Object = (*Task)(nil)
)

// GetID returns the object's ID.
func (c *Cluster) GetID() string { return c.ID }

// GetMeta returns the object's metadata.
func (c *Cluster) GetMeta() Meta { return c.Meta }

// Kind returns KindCluster.
func (c *Cluster) Kind() Kind           { return KindCluster }
func (c *Cluster) isObject()            {}
func (n *Node) GetID() string           { return n.ID }
func (n *Node) GetMeta() Meta           { return n.Meta }
func (n *Node) Kind() Kind              { return KindNode }
func (n *Node) isObject()               {}
func (s *Service) GetID() string        { return s.ID }
func (s *Service) GetMeta() Meta        { return s.Meta }
func (s *Service) Kind() Kind           { return KindService }
func (s *Service) isObject()            {}
func (t *Task) GetID() string           { return t.ID }
func (t *Task) GetMeta() Meta           { return t.Meta }
func (t *Task) Kind() Kind              { return KindTask }
func (t *Task) isObject()               {}
func (a Annotations) copy() Annotations { a.Labels = maps.Clone(a.Labels); return a }

// Copy returns a copy that may be modified.
func (c *Cluster) Copy() *Cluster {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Spec.Annotations = c.Spec.Annotations.copy()
	cp.RemovedNodes = slices.Clone(c.RemovedNodes)
	cp.GossipKeys = slices.Clone(c.GossipKeys)
	return &cp
}

// Copy returns a copy that may be modified.
func (n *Node) Copy() *Node {
	if n == nil {
		return nil
	}
	cp := *n
	cp.Spec.Annotations = n.Spec.Annotations.copy()
	cp.Description.Engine.Labels = maps.Clone(n.Description.Engine.Labels)
	if n.ManagerStatus != nil {
		ms := *n.ManagerStatus
		cp.ManagerStatus = &ms
	}
	return &cp
}

// Copy returns a copy that may be modified.
func (s *Service) Copy() *Service {
	if s == nil {
		return nil
	}
	cp := *s
	cp.Spec = s.Spec.Copy()
	if s.PreviousSpec != nil {
		ps := s.PreviousSpec.Copy()
		cp.PreviousSpec = &ps
	}
	if s.UpdateStatus != nil {
		us := *s.UpdateStatus
		cp.UpdateStatus = &us
	}
	if s.JobStatus != nil {
		js := *s.JobStatus
		cp.JobStatus = &js
	}
	cp.Endpoint = s.Endpoint.Copy()
	return &cp
}

// Copy returns a copy of the spec that may be modified.
func (s ServiceSpec) Copy() ServiceSpec {
	s.Annotations = s.Annotations.copy()
	s.Task.Container.Labels = maps.Clone(s.Task.Container.Labels)
	if s.Mode.Replicated != nil {
		r := *s.Mode.Replicated
		s.Mode.Replicated = &r
	}
	if s.Mode.ReplicatedJob != nil {
		r := *s.Mode.ReplicatedJob
		s.Mode.ReplicatedJob = &r
	}
	if s.Update != nil {
		u := *s.Update
		s.Update = &u
	}
	if s.Rollback != nil {
		r := *s.Rollback
		s.Rollback = &r
	}
	if s.Endpoint != nil {
		e := *s.Endpoint
		s.Endpoint = &e
	}
	return s
}

// Copy returns a copy that may be modified. The task spec is shared: tasks
// never change their spec.
func (t *Task) Copy() *Task {
	if t == nil {
		return nil
	}
	cp := *t
	if t.Status.Container != nil {
		c := *t.Status.Container
		cp.Status.Container = &c
	}
	return &cp
}
