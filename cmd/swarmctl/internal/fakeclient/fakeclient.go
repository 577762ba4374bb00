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
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/errdefs"

	"github.com/shoal-dev/shoal/cmd/swarmctl/internal/command"
)

// Write is one request with a body that a command sent.
type Write struct {
	// Op is "service create", "service update", "service rm", "node
	// update", "node rm", "swarm update", or "network", "secret" or
	// "config" and "create" or "rm".
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
	// Name, NetworkOptions, SecretSpec and ConfigSpec hold what a create
	// of a network, secret or config sent.
	Name           string
	NetworkOptions network.CreateOptions
	SecretSpec     swarm.SecretSpec
	ConfigSpec     swarm.ConfigSpec
}

// Client is the fake manager.
type Client struct {
	mu         sync.Mutex
	Services   []swarm.Service
	Tasks      []swarm.Task
	Nodes      []swarm.Node
	Networks   []network.Inspect
	Secrets    []swarm.Secret
	Configs    []swarm.Config
	Swarm      swarm.Swarm
	SystemInfo system.Info
	// EventLog is what Events sends.
	EventLog []events.Message
	// UnlockKey is what SwarmGetUnlockKey returns; empty means autolock is off.
	UnlockKey string
	// Logs is the raw (multiplexed) body of every logs request.
	Logs []byte
	// Writes records the writes, in order.
	Writes []Write
	// NextID names the next service, network, secret or config created.
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

// Events sends EventLog, then io.EOF, as a manager does for a --until in
// the past; it ignores the options.
func (c *Client) Events(ctx context.Context, _ events.ListOptions) (<-chan events.Message, <-chan error) {
	c.mu.Lock()
	log := slices.Clone(c.EventLog)
	c.mu.Unlock()
	msgs, errs := make(chan events.Message), make(chan error, 1)
	go func() {
		for _, m := range log {
			select {
			case msgs <- m:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
		errs <- io.EOF
	}()
	return msgs, errs
}

// nextID returns NextID or an ID made from n.
func (c *Client) nextID(n int) string {
	if c.NextID != "" {
		return c.NextID
	}
	return fmt.Sprintf("new%022d", n)
}

// NetworkCreate stores a network; a name in use is a conflict.
func (c *Client) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	o = clone(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Writes = append(c.Writes, Write{Op: "network create", Name: name, NetworkOptions: o})
	if slices.ContainsFunc(c.Networks, func(n network.Inspect) bool { return n.Name == name }) {
		return network.CreateResponse{}, errdefs.Conflict(fmt.Errorf("network with name %s already exists", name))
	}
	n := network.Inspect{ID: c.nextID(len(c.Networks)), Name: name, Created: c.Now, Scope: "swarm", Driver: o.Driver,
		Internal: o.Internal, Attachable: o.Attachable, Labels: o.Labels}
	if o.IPAM != nil {
		n.IPAM = *o.IPAM
	}
	c.Networks = append(c.Networks, n)
	return network.CreateResponse{ID: n.ID}, nil
}

func (c *Client) network(ref string) (int, error) {
	return resolve(len(c.Networks), func(i int) string { return c.Networks[i].ID },
		func(i int) string { return c.Networks[i].Name }, ref, "network")
}

// NetworkInspect returns a network by ID, name or ID prefix.
func (c *Client) NetworkInspect(_ context.Context, ref string, _ network.InspectOptions) (network.Inspect, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.network(ref)
	if err != nil {
		return network.Inspect{}, err
	}
	return clone(c.Networks[i]), nil
}

// NetworkList returns the networks.
func (c *Client) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.Networks), nil
}

// NetworkRemove deletes a network.
func (c *Client) NetworkRemove(_ context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.network(ref)
	if err != nil {
		return err
	}
	c.Writes = append(c.Writes, Write{Op: "network rm", ID: c.Networks[i].ID})
	c.Networks = slices.Delete(c.Networks, i, i+1)
	return nil
}

// SecretCreate stores a secret; a name in use is a conflict.
func (c *Client) SecretCreate(_ context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Writes = append(c.Writes, Write{Op: "secret create", SecretSpec: spec})
	if slices.ContainsFunc(c.Secrets, func(s swarm.Secret) bool { return s.Spec.Name == spec.Name }) {
		return swarm.SecretCreateResponse{}, errdefs.Conflict(fmt.Errorf("secret %s already exists", spec.Name))
	}
	s := swarm.Secret{ID: c.nextID(len(c.Secrets)), Meta: swarm.Meta{Version: c.bump(), CreatedAt: c.Now, UpdatedAt: c.Now},
		Spec: swarm.SecretSpec{Annotations: spec.Annotations}}
	c.Secrets = append(c.Secrets, s)
	return swarm.SecretCreateResponse{ID: s.ID}, nil
}

func (c *Client) secret(ref string) (int, error) {
	return resolve(len(c.Secrets), func(i int) string { return c.Secrets[i].ID },
		func(i int) string { return c.Secrets[i].Spec.Name }, ref, "secret")
}

// SecretInspectWithRaw returns a secret, without its data as a manager
// does.
func (c *Client) SecretInspectWithRaw(_ context.Context, ref string) (swarm.Secret, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.secret(ref)
	if err != nil {
		return swarm.Secret{}, nil, err
	}
	s := clone(c.Secrets[i])
	b, _ := json.Marshal(s)
	return s, b, nil
}

// SecretList returns the secrets.
func (c *Client) SecretList(context.Context, swarm.SecretListOptions) ([]swarm.Secret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.Secrets), nil
}

// SecretRemove deletes a secret.
func (c *Client) SecretRemove(_ context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.secret(ref)
	if err != nil {
		return err
	}
	c.Writes = append(c.Writes, Write{Op: "secret rm", ID: c.Secrets[i].ID})
	c.Secrets = slices.Delete(c.Secrets, i, i+1)
	return nil
}

// ConfigCreate stores a config; a name in use is a conflict.
func (c *Client) ConfigCreate(_ context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	spec = clone(spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Writes = append(c.Writes, Write{Op: "config create", ConfigSpec: spec})
	if slices.ContainsFunc(c.Configs, func(s swarm.Config) bool { return s.Spec.Name == spec.Name }) {
		return swarm.ConfigCreateResponse{}, errdefs.Conflict(fmt.Errorf("config %s already exists", spec.Name))
	}
	cf := swarm.Config{ID: c.nextID(len(c.Configs)), Meta: swarm.Meta{Version: c.bump(), CreatedAt: c.Now, UpdatedAt: c.Now}, Spec: spec}
	c.Configs = append(c.Configs, cf)
	return swarm.ConfigCreateResponse{ID: cf.ID}, nil
}

func (c *Client) config(ref string) (int, error) {
	return resolve(len(c.Configs), func(i int) string { return c.Configs[i].ID },
		func(i int) string { return c.Configs[i].Spec.Name }, ref, "config")
}

// ConfigInspectWithRaw returns a config, with its data.
func (c *Client) ConfigInspectWithRaw(_ context.Context, ref string) (swarm.Config, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.config(ref)
	if err != nil {
		return swarm.Config{}, nil, err
	}
	cf := clone(c.Configs[i])
	b, _ := json.Marshal(cf)
	return cf, b, nil
}

// ConfigList returns the configs.
func (c *Client) ConfigList(context.Context, swarm.ConfigListOptions) ([]swarm.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.Configs), nil
}

// ConfigRemove deletes a config.
func (c *Client) ConfigRemove(_ context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, err := c.config(ref)
	if err != nil {
		return err
	}
	c.Writes = append(c.Writes, Write{Op: "config rm", ID: c.Configs[i].ID})
	c.Configs = slices.Delete(c.Configs, i, i+1)
	return nil
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
