// Package fakeclient is an in-memory stand-in for a manager's API, for the
// tests of swarmctl's commands. It implements command.Client over a few
// maps, resolves references as a manager does (full ID, then name or
// hostname, then unique ID prefix), checks versions on updates ("update out
// of sequence"), and records every write so tests can check what a command
// sent.
//
// Like a manager, it does not know "self": the client resolves it.
//
// A Client is safe for concurrent use. Tests set its fields before use and
// read Writes after.
package fakeclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/errdefs"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Write is one request with a body that a command sent.
type Write struct {
	// Op is "service create", "service update", "service rm", "node
	// update", "node rm" or "swarm update".
	Op string
	// ID is the object written, Version the version the command named.
	ID      string
	Version uint64
	// ServiceSpec, NodeSpec and SwarmSpec hold what was sent.
	ServiceSpec swarm.ServiceSpec
	NodeSpec    swarm.NodeSpec
	SwarmSpec   swarm.Spec
	// Options are the query options: rollback, force, rotate flags.
	Options string
}

// Client is the fake manager.
type Client struct {
	mu         sync.Mutex
	Services   []swarm.Service
	Tasks      []swarm.Task
	Nodes      []swarm.Node
	Swarm      swarm.Swarm
	SystemInfo system.Info
	// UnlockKey is what SwarmGetUnlockKey returns; empty means autolock is off.
	UnlockKey string
	// Logs is the raw (multiplexed) body of every logs request.
	Logs []byte
	// Writes records the writes, in order.
	Writes []Write
	// NextID names the next service created.
	NextID string
	// Index is the version counter, bumped on every write.
	Index uint64
	// Now stamps writes.
	Now time.Time
	// TaskListCalls records the filters of every task list.
	TaskListCalls []filters.Args
	// Race, if set, runs once, right after the next service or node
	// inspect: a write by someone else between a command's read and its
	// write. It may change the fields under the lock it is called with.
	Race func(c *Client)
}

// race runs and clears Race; c.mu is held.
func (c *Client) race() {
	if r := c.Race; r != nil {
		c.Race = nil
		r(c)
	}
}

// clone deep-copies v through JSON, as the wire does: what a command reads
// or sends never shares memory with what the fake stores.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func notFound(kind, ref string) error {
	return errdefs.NotFound(fmt.Errorf("%s %s not found", kind, ref))
}

// resolve finds the index of the object ref names: a full ID, then a name,
// then a unique ID prefix, as a manager resolves it.
func resolve(n int, id func(int) string, name func(int) string, ref, kind string) (int, error) {
	for i := range n {
		if id(i) == ref {
			return i, nil
		}
	}
	for i := range n {
		if name(i) == ref {
			return i, nil
		}
	}
	found := -1
	for i := range n {
		if strings.HasPrefix(id(i), ref) {
			if found >= 0 {
				return -1, errdefs.InvalidParameter(fmt.Errorf("%s %s is ambiguous (%d matches found)", kind, ref, 2))
			}
			found = i
		}
	}
	if found < 0 {
		return -1, notFound(kind, ref)
	}
	return found, nil
}

func (c *Client) service(ref string) (int, error) {
	return resolve(len(c.Services), func(i int) string { return c.Services[i].ID },
		func(i int) string { return c.Services[i].Spec.Name }, ref, "service")
}

func (c *Client) node(ref string) (int, error) {
	return resolve(len(c.Nodes), func(i int) string { return c.Nodes[i].ID },
		func(i int) string { return c.Nodes[i].Description.Hostname }, ref, "node")
}

func (c *Client) bump() swarm.Version {
	c.Index++
	return swarm.Version{Index: c.Index}
}

// ServiceCreate stores a new service.
func (c *Client) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, _ swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.Services {
		if s.Spec.Name == spec.Name {
			return swarm.ServiceCreateResponse{}, errdefs.Conflict(fmt.Errorf("service %s already exists", spec.Name))
		}
	}
	id := c.NextID
	if id == "" {
		id = fmt.Sprintf("svc%022d", len(c.Services)+1)
	}
	c.Writes = append(c.Writes, Write{Op: "service create", ID: id, ServiceSpec: spec})
	c.Services = append(c.Services, swarm.Service{ID: id, Meta: swarm.Meta{Version: c.bump(), CreatedAt: c.Now, UpdatedAt: c.Now}, Spec: spec})
	return swarm.ServiceCreateResponse{ID: id}, nil
}

// ServiceInspectWithRaw returns a service.
func (c *Client) ServiceInspectWithRaw(_ context.Context, ref string, _ swarm.ServiceInspectOptions) (swarm.Service, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.service(ref)
	if err != nil {
		return swarm.Service{}, nil, err
	}
	defer c.race()
	return clone(c.Services[i]), nil, nil
}

// ServiceList returns the services that match the id and name filters.
func (c *Client) ServiceList(_ context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []swarm.Service
	for _, s := range c.Services {
		if o.Filters.Contains("name") && !o.Filters.ExactMatch("name", s.Spec.Name) {
			continue
		}
		if o.Filters.Contains("id") && !o.Filters.ExactMatch("id", s.ID) {
			continue
		}
		out = append(out, s)
	}
	return clone(out), nil
}

// ServiceRemove deletes a service.
func (c *Client) ServiceRemove(_ context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.service(ref)
	if err != nil {
		return err
	}
	c.Writes = append(c.Writes, Write{Op: "service rm", ID: c.Services[i].ID})
	c.Services = slices.Delete(c.Services, i, i+1)
	return nil
}

// ServiceUpdate replaces a service's spec if version is current.
func (c *Client) ServiceUpdate(_ context.Context, id string, version swarm.Version, spec swarm.ServiceSpec, o swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.Services, func(s swarm.Service) bool { return s.ID == id })
	if i < 0 {
		return swarm.ServiceUpdateResponse{}, notFound("service", id)
	}
	c.Writes = append(c.Writes, Write{Op: "service update", ID: id, Version: version.Index, ServiceSpec: spec, Options: o.Rollback})
	s := &c.Services[i]
	if s.Version.Index != version.Index {
		return swarm.ServiceUpdateResponse{}, errdefs.Conflict(errors.New("update out of sequence"))
	}
	prev := s.Spec
	if o.Rollback == "previous" {
		if s.PreviousSpec == nil {
			return swarm.ServiceUpdateResponse{}, errdefs.InvalidParameter(fmt.Errorf("service %s does not have a previous spec", id))
		}
		spec = clone(*s.PreviousSpec)
	}
	s.PreviousSpec = &prev
	s.Spec = spec
	s.Version = c.bump()
	s.UpdatedAt = c.Now
	return swarm.ServiceUpdateResponse{}, nil
}

// ServiceLogs returns Logs.
func (c *Client) ServiceLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return io.NopCloser(bytes.NewReader(c.Logs)), nil
}

// TaskLogs returns Logs.
func (c *Client) TaskLogs(ctx context.Context, _ string, o container.LogsOptions) (io.ReadCloser, error) {
	return c.ServiceLogs(ctx, "", o)
}

// TaskInspectWithRaw returns a task by ID.
func (c *Client) TaskInspectWithRaw(_ context.Context, id string) (swarm.Task, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.Tasks {
		if t.ID == id {
			return clone(t), nil, nil
		}
	}
	return swarm.Task{}, nil, notFound("task", id)
}

// TaskList returns the tasks of the services in the service filter, with
// the desired-state filter applied.
func (c *Client) TaskList(_ context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.TaskListCalls = append(c.TaskListCalls, o.Filters)
	var out []swarm.Task
	for _, t := range c.Tasks {
		if o.Filters.Contains("service") && !o.Filters.ExactMatch("service", t.ServiceID) {
			continue
		}
		if o.Filters.Contains("desired-state") && !o.Filters.ExactMatch("desired-state", string(t.DesiredState)) {
			continue
		}
		out = append(out, t)
	}
	return clone(out), nil
}

// NodeInspectWithRaw returns a node.
func (c *Client) NodeInspectWithRaw(_ context.Context, ref string) (swarm.Node, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.node(ref)
	if err != nil {
		return swarm.Node{}, nil, err
	}
	defer c.race()
	return clone(c.Nodes[i]), nil, nil
}

// NodeList returns the nodes.
func (c *Client) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.Nodes), nil
}

// NodeRemove deletes a node.
func (c *Client) NodeRemove(_ context.Context, ref string, o swarm.NodeRemoveOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.node(ref)
	if err != nil {
		return err
	}
	c.Writes = append(c.Writes, Write{Op: "node rm", ID: c.Nodes[i].ID, Options: fmt.Sprintf("force=%v", o.Force)})
	c.Nodes = slices.Delete(c.Nodes, i, i+1)
	return nil
}

// NodeUpdate replaces a node's spec if version is current.
func (c *Client) NodeUpdate(_ context.Context, id string, version swarm.Version, spec swarm.NodeSpec) error {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.Nodes, func(n swarm.Node) bool { return n.ID == id })
	if i < 0 {
		return notFound("node", id)
	}
	c.Writes = append(c.Writes, Write{Op: "node update", ID: id, Version: version.Index, NodeSpec: spec})
	if c.Nodes[i].Version.Index != version.Index {
		return errdefs.Conflict(errors.New("update out of sequence"))
	}
	c.Nodes[i].Spec = spec
	c.Nodes[i].Version = c.bump()
	return nil
}

// SwarmInspect returns Swarm.
func (c *Client) SwarmInspect(context.Context) (swarm.Swarm, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.Swarm), nil
}

// SwarmUpdate stores the spec and rotates the tokens asked for.
func (c *Client) SwarmUpdate(_ context.Context, version swarm.Version, spec swarm.Spec, f swarm.UpdateFlags) error {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Writes = append(c.Writes, Write{Op: "swarm update", Version: version.Index, SwarmSpec: spec,
		Options: fmt.Sprintf("rotateWorkerToken=%v rotateManagerToken=%v rotateManagerUnlockKey=%v", f.RotateWorkerToken, f.RotateManagerToken, f.RotateManagerUnlockKey)})
	if c.Swarm.Version.Index != version.Index {
		return errdefs.Conflict(errors.New("update out of sequence"))
	}
	c.Swarm.Spec = spec
	c.Swarm.Version = c.bump()
	if f.RotateWorkerToken {
		c.Swarm.JoinTokens.Worker += "-rotated"
	}
	if f.RotateManagerToken {
		c.Swarm.JoinTokens.Manager += "-rotated"
	}
	return nil
}

// SwarmGetUnlockKey returns UnlockKey, or a not-found error when it is
// empty (autolock off), as the manager answers.
func (c *Client) SwarmGetUnlockKey(context.Context) (swarm.UnlockKeyResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.UnlockKey == "" {
		return swarm.UnlockKeyResponse{}, errdefs.NotFound(errors.New("no unlock key is set"))
	}
	return swarm.UnlockKeyResponse{UnlockKey: c.UnlockKey}, nil
}

// Info returns SystemInfo.
func (c *Client) Info(context.Context) (system.Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.SystemInfo), nil
}

// Close does nothing.
func (c *Client) Close() error { return nil }

// LastWrite returns the last write recorded, or a zero Write.
func (c *Client) LastWrite() Write {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.Writes) == 0 {
		return Write{}
	}
	return c.Writes[len(c.Writes)-1]
}

var _ command.Client = (*Client)(nil)
