package state

import (
	"crypto/subtle"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// The operations on networks, secrets and configs, and the checks that
// tie services to them. Every check reads only the store, so every
// manager reaches the same verdict.

// byName returns the object of t named name (case-insensitively), if any.
func byName[T any](t *table[T], name string) *T {
	var found *T
	_ = t.scan(query{index: indexName, value: strings.ToLower(name)}, func(o *T) bool {
		found = o
		return false
	})
	return found
}

func (w *writeTx) networkByName(name string) *model.Network { return byName(&w.db.networks, name) }
func (w *writeTx) secretByName(name string) *model.Secret   { return byName(&w.db.secrets, name) }
func (w *writeTx) configByName(name string) *model.Config   { return byName(&w.db.configs, name) }

// ingressNetwork returns the ingress network, if there is one.
func (w *writeTx) ingressNetwork() *model.Network {
	var found *model.Network
	_ = w.db.networks.scan(query{all: true}, func(n *model.Network) bool {
		if n.Spec.Ingress {
			found = n
		}
		return found == nil
	})
	return found
}

// checkAddrPoolKept refuses a cluster update that changes the address
// pool once it is set: the subnets allocated from it depend on it.
func checkAddrPoolKept(old, next *model.ClusterSpec) *Error {
	if len(old.DefaultAddrPool) == 0 && old.SubnetSize == 0 {
		return nil
	}
	if !slices.Equal(old.AddrPool(), next.AddrPool()) || old.Subnet() != next.Subnet() {
		return errorf(ErrInvalid, "the default address pool (%s, /%d) cannot change after init", strings.Join(old.AddrPool(), ","), old.Subnet())
	}
	return nil
}

// ---------------------------------------------------------------------------
// Networks

func (w *writeTx) createNetwork(op *Op) OpResult {
	n := op.Network
	if n == nil || n.ID == "" || n.Spec.Name == "" {
		return fail(errorf(ErrInvalid, "create network: no network, ID or name"))
	}
	if w.db.networks.get(n.ID) != nil {
		return fail(errorf(ErrExists, "network %s already exists", n.ID))
	}
	if other := w.networkByName(n.Spec.Name); other != nil {
		return fail(errorf(ErrNameConflict, "network with name %s already exists", n.Spec.Name))
	}
	if n.Spec.Ingress {
		if in := w.ingressNetwork(); in != nil {
			return fail(errorf(ErrConflict, "an ingress network (%s) already exists", in.Spec.Name))
		}
	}
	if err := w.checkNetworkSubnet(n); err != nil {
		return fail(err)
	}
	c := n.Copy()
	if c.Spec.Driver == "" {
		c.Spec.Driver = model.DriverOverlay
	}
	put(w, w.networks(), c, nil)
	return OpResult{}
}

func (w *writeTx) updateNetwork(op *Op) OpResult {
	n := op.Network
	if n == nil {
		return fail(errorf(ErrInvalid, "update network: no network"))
	}
	old := w.db.networks.get(n.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "network %s not found", n.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	if n.Spec.Name != old.Spec.Name {
		return fail(errorf(ErrInvalid, "network %s cannot be renamed to %s", old.Spec.Name, n.Spec.Name))
	}
	if n.Spec.Ingress != old.Spec.Ingress {
		return fail(errorf(ErrInvalid, "network %s: whether a network is the ingress network cannot change", old.Spec.Name))
	}
	c := n.Copy()
	if c.Spec.Driver == "" {
		c.Spec.Driver = model.DriverOverlay
	}
	put(w, w.networks(), c, old)
	return OpResult{}
}

// taskUsesNetwork tells whether a task that still runs or may still run
// is attached to network id. A task whose desired or observed state is
// past running is done with its networks: so `docker stack rm` can
// remove a network right after the services, while their tasks stop.
func taskUsesNetwork(t *model.Task, id string) bool {
	if t.DesiredState > model.TaskStateRunning || t.Status.State > model.TaskStateRunning {
		return false
	}
	for i := range t.Networks {
		if t.Networks[i].NetworkID == id {
			return true
		}
	}
	for i := range t.Spec.Networks {
		if t.Spec.Networks[i].Target == id {
			return true
		}
	}
	return false
}

func hasIngressPorts(e *model.EndpointSpec) bool {
	if e == nil {
		return false
	}
	for _, p := range e.Ports {
		if isIngress(&p) {
			return true
		}
	}
	return false
}

func isIngress(p *model.PortConfig) bool {
	return p.PublishMode == model.PublishModeIngress || p.PublishMode == ""
}

func (w *writeTx) deleteNetwork(op *Op) OpResult {
	n := w.db.networks.get(op.ID)
	if n == nil {
		return fail(errorf(ErrNotFound, "network %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(n, op.Version); err != nil {
			return fail(err)
		}
	}
	var err *Error
	_ = w.db.services.scan(query{all: true}, func(s *model.Service) bool {
		for _, a := range s.Spec.Task.Networks {
			if a.Target == n.ID {
				err = errorf(ErrConflict, "network %s is in use by service %s", n.Spec.Name, s.Spec.Name)
				return false
			}
		}
		if n.Spec.Ingress && hasIngressPorts(s.Spec.Endpoint) {
			err = errorf(ErrConflict, "ingress network cannot be removed because service %s depends on it", s.Spec.Name)
			return false
		}
		return true
	})
	if err != nil {
		return fail(err)
	}
	_ = w.db.tasks.scan(query{all: true}, func(t *model.Task) bool {
		if taskUsesNetwork(t, n.ID) {
			err = errorf(ErrConflict, "network %s is in use by task %s", n.Spec.Name, t.ID)
			return false
		}
		return true
	})
	if err != nil {
		return fail(err)
	}
	del(w, w.networks(), n)
	return OpResult{}
}

// ---------------------------------------------------------------------------
// Secrets and configs

// MsgOnlyLabels is Docker's refusal of a secret or config update that
// changes more than the labels.
const MsgOnlyLabels = "only updates to Labels are allowed"

func (w *writeTx) createSecret(op *Op) OpResult {
	s := op.Secret
	if s == nil || s.ID == "" || s.Spec.Name == "" {
		return fail(errorf(ErrInvalid, "create secret: no secret, ID or name"))
	}
	if w.db.secrets.get(s.ID) != nil {
		return fail(errorf(ErrExists, "secret %s already exists", s.ID))
	}
	if w.secretByName(s.Spec.Name) != nil {
		return fail(errorf(ErrNameConflict, "secret %s already exists", s.Spec.Name))
	}
	put(w, w.secrets(), s.Copy(), nil)
	return OpResult{}
}

// sameData tells whether an update's data (nil: left out) keeps stored.
// Secrets compare in constant time.
func sameData(stored, update []byte) bool {
	return update == nil || subtle.ConstantTimeCompare(stored, update) == 1
}

func (w *writeTx) updateSecret(op *Op) OpResult {
	s := op.Secret
	if s == nil {
		return fail(errorf(ErrInvalid, "update secret: no secret"))
	}
	old := w.db.secrets.get(s.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "secret %s not found", s.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	if s.Spec.Name != old.Spec.Name || !sameData(old.Spec.Data, s.Spec.Data) {
		return fail(errorf(ErrInvalid, MsgOnlyLabels))
	}
	n := s.Copy()
	n.Spec.Data = old.Spec.Data
	put(w, w.secrets(), n, old)
	return OpResult{}
}

// usedBy returns the name of the first service (in ID order) whose spec
// uses, as uses tells, or "".
func (w *writeTx) usedBy(uses func(*model.ContainerSpec) bool) string {
	name := ""
	_ = w.db.services.scan(query{all: true}, func(s *model.Service) bool {
		if uses(&s.Spec.Task.Container) {
			name = s.Spec.Name
		}
		return name == ""
	})
	return name
}

func (w *writeTx) deleteSecret(op *Op) OpResult {
	s := w.db.secrets.get(op.ID)
	if s == nil {
		return fail(errorf(ErrNotFound, "secret %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(s, op.Version); err != nil {
			return fail(err)
		}
	}
	if svc := w.usedBy(func(c *model.ContainerSpec) bool {
		return slices.ContainsFunc(c.Secrets, func(r model.SecretReference) bool { return r.SecretID == s.ID })
	}); svc != "" {
		return fail(errorf(ErrConflict, "secret '%s' is in use by the following service: %s", s.Spec.Name, svc))
	}
	del(w, w.secrets(), s)
	return OpResult{}
}

func (w *writeTx) createConfig(op *Op) OpResult {
	c := op.Config
	if c == nil || c.ID == "" || c.Spec.Name == "" {
		return fail(errorf(ErrInvalid, "create config: no config, ID or name"))
	}
	if w.db.configs.get(c.ID) != nil {
		return fail(errorf(ErrExists, "config %s already exists", c.ID))
	}
	if w.configByName(c.Spec.Name) != nil {
		return fail(errorf(ErrNameConflict, "config %s already exists", c.Spec.Name))
	}
	put(w, w.configs(), c.Copy(), nil)
	return OpResult{}
}

func (w *writeTx) updateConfig(op *Op) OpResult {
	c := op.Config
	if c == nil {
		return fail(errorf(ErrInvalid, "update config: no config"))
	}
	old := w.db.configs.get(c.ID)
	if old == nil {
		return fail(errorf(ErrNotFound, "config %s not found", c.ID))
	}
	if err := checkVersion(old, op.Version); err != nil {
		return fail(err)
	}
	if c.Spec.Name != old.Spec.Name || !sameData(old.Spec.Data, c.Spec.Data) {
		return fail(errorf(ErrInvalid, MsgOnlyLabels))
	}
	n := c.Copy()
	n.Spec.Data = old.Spec.Data
	put(w, w.configs(), n, old)
	return OpResult{}
}

func (w *writeTx) deleteConfig(op *Op) OpResult {
	c := w.db.configs.get(op.ID)
	if c == nil {
		return fail(errorf(ErrNotFound, "config %s not found", op.ID))
	}
	if op.Version != 0 {
		if err := checkVersion(c, op.Version); err != nil {
			return fail(err)
		}
	}
	if svc := w.usedBy(func(cs *model.ContainerSpec) bool {
		return slices.ContainsFunc(cs.Configs, func(r model.ConfigReference) bool { return r.ConfigID == c.ID })
	}); svc != "" {
		return fail(errorf(ErrConflict, "config '%s' is in use by the following service: %s", c.Spec.Name, svc))
	}
	del(w, w.configs(), c)
	return OpResult{}
}

// ---------------------------------------------------------------------------
// Services

// checkServiceRefs checks what a service spec refers to: its networks,
// secrets and configs exist (by ID), it does not name the ingress network
// (services publishing ingress ports are attached to it by the
// allocator), and its explicit published ports are free.
func (w *writeTx) checkServiceRefs(s *model.Service) *Error {
	spec := &s.Spec
	for _, a := range spec.Task.Networks {
		n := w.db.networks.get(a.Target)
		if n == nil {
			return errorf(ErrNotFound, "network %s not found", a.Target)
		}
		if n.Spec.Ingress {
			return errorf(ErrInvalid, "service cannot be explicitly attached to the ingress network %q", n.Spec.Name)
		}
	}
	for _, r := range spec.Task.Container.Secrets {
		if w.db.secrets.get(r.SecretID) == nil {
			return errorf(ErrNotFound, "secret not found: %s", refName(r.SecretName, r.SecretID))
		}
	}
	for _, r := range spec.Task.Container.Configs {
		if w.db.configs.get(r.ConfigID) == nil {
			return errorf(ErrNotFound, "config not found: %s", refName(r.ConfigName, r.ConfigID))
		}
	}
	return w.checkPorts(s)
}

func refName(name, id string) string {
	if name == "" {
		return id
	}
	return name + " (" + id + ")"
}

// portKey is a published port: (protocol, port).
type portKey struct {
	protocol string
	port     uint32
}

func keyOf(p *model.PortConfig) portKey {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return portKey{proto, p.PublishedPort}
}

// checkPorts refuses explicit published ports of s that another service
// publishes in a way they cannot share: an ingress port is published on
// every node, so it conflicts with any other service's ingress or host
// port of the same number and protocol, and a host port conflicts with
// another service's ingress port. Two host-mode ports may share a number:
// the scheduler keeps their tasks apart. Both the other services' specs
// and their allocated ports (which include the ones the allocator chose)
// count.
func (w *writeTx) checkPorts(s *model.Service) *Error {
	if s.Spec.Endpoint == nil || len(s.Spec.Endpoint.Ports) == 0 {
		return nil
	}
	want := map[portKey]bool{} // published port -> ingress
	for i := range s.Spec.Endpoint.Ports {
		p := &s.Spec.Endpoint.Ports[i]
		if p.PublishedPort != 0 {
			k := keyOf(p)
			want[k] = want[k] || isIngress(p)
		}
	}
	if len(want) == 0 {
		return nil
	}
	var err *Error
	check := func(other *model.Service, ps []model.PortConfig) {
		for i := range ps {
			p := &ps[i]
			if p.PublishedPort == 0 || err != nil {
				continue
			}
			ingress, ok := want[keyOf(p)]
			if !ok || (!ingress && !isIngress(p)) {
				continue
			}
			mode := "a host-published port"
			if isIngress(p) {
				mode = "an ingress port"
			}
			err = errorf(ErrConflict, "port '%d' is already in use by service '%s' (%s) as %s", p.PublishedPort, other.Spec.Name, other.ID, mode)
		}
	}
	_ = w.db.services.scan(query{all: true}, func(o *model.Service) bool {
		if o.ID == s.ID {
			return true
		}
		if o.Spec.Endpoint != nil {
			check(o, o.Spec.Endpoint.Ports)
		}
		if o.Endpoint != nil {
			check(o, o.Endpoint.Ports)
		}
		return err == nil
	})
	return err
}
