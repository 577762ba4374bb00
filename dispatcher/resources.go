package dispatcher

import (
	"reflect"
	"slices"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// resources indexes what nodes need besides their tasks: the secrets and
// configs their tasks reference, and their view of the networks they have
// tasks or a load-balancer address on. Built from the leadership's snapshot and
// change feed, on the run goroutine only. Changes mark nodes (secrets)
// and networks (views) dirty; flush sends each dirty node its whole set
// or view once per batch of changes.
//
// A task counts while it needs them: assigned, not stopped, desired state
// at most running. A task with neither references nor attachments costs
// one map lookup per change, so the 100,000 plain tasks of a scale run
// pay nothing for it.
type resources struct {
	secrets  map[string]*model.Secret
	configs  map[string]*model.Config
	networks map[string]*model.Network
	// services are those with virtual IPs.
	services map[string]*model.Service

	// uses are the counted tasks with references or attachments.
	uses map[string]*taskUse
	// Per node: how many counted tasks reference each secret, config,
	// network.
	nodeSecrets map[string]map[string]int
	nodeConfigs map[string]map[string]int
	nodeNets    map[string]map[string]int
	// netTasks are the counted tasks on each network.
	netTasks map[string]map[string]*model.Task
	// lbs are the nodes' load-balancer addresses, by network then node.
	lbs map[string]map[string]string

	dirtySecrets map[string]bool // nodes
	dirtyNets    map[string]bool // networks
	dirtyViews   map[string]bool // nodes
}

type taskUse struct {
	node    string
	task    *model.Task
	secrets []string
	configs []string
	nets    []string
}

func newResources() *resources {
	return &resources{
		secrets:      map[string]*model.Secret{},
		configs:      map[string]*model.Config{},
		networks:     map[string]*model.Network{},
		services:     map[string]*model.Service{},
		uses:         map[string]*taskUse{},
		nodeSecrets:  map[string]map[string]int{},
		nodeConfigs:  map[string]map[string]int{},
		nodeNets:     map[string]map[string]int{},
		netTasks:     map[string]map[string]*model.Task{},
		lbs:          map[string]map[string]string{},
		dirtySecrets: map[string]bool{},
		dirtyNets:    map[string]bool{},
		dirtyViews:   map[string]bool{},
	}
}

// seed fills the index from a snapshot.
func (r *resources) seed(tx state.ReadTx) error {
	secrets, err := tx.FindSecrets(state.All)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		r.secrets[s.ID] = s
	}
	configs, err := tx.FindConfigs(state.All)
	if err != nil {
		return err
	}
	for _, c := range configs {
		r.configs[c.ID] = c
	}
	networks, err := tx.FindNetworks(state.All)
	if err != nil {
		return err
	}
	for _, n := range networks {
		r.networks[n.ID] = n
	}
	services, err := tx.FindServices(state.All)
	if err != nil {
		return err
	}
	for _, s := range services {
		r.observeService(s, false)
	}
	return nil
}

func needsResources(t *model.Task) bool {
	return t.NodeID != "" && t.Status.State >= model.TaskStateAssigned && !t.Status.State.Terminal() &&
		t.DesiredState <= model.TaskStateRunning &&
		(len(t.Networks) > 0 || len(t.Spec.Container.Secrets) > 0 || len(t.Spec.Container.Configs) > 0)
}

func count(m map[string]map[string]int, node, id string, delta int) bool {
	c := m[node]
	if c == nil {
		c = map[string]int{}
		m[node] = c
	}
	c[id] += delta
	changed := (delta > 0 && c[id] == delta) || c[id] <= 0
	if c[id] <= 0 {
		delete(c, id)
		if len(c) == 0 {
			delete(m, node)
		}
	}
	return changed
}

// observeTask updates the index for a task's change.
func (r *resources) observeTask(t *model.Task, deleted bool) {
	old := r.uses[t.ID]
	if old == nil && (deleted || !needsResources(t)) {
		return
	}
	if old != nil && !deleted && needsResources(t) && old.node == t.NodeID && old.task != nil &&
		slices.EqualFunc(old.task.Networks, t.Networks, attachmentEqual) {
		// A status report: nothing a node sees changed (the references
		// are the spec's, which a task never changes), unless the task
		// started or stopped running: its endpoint's Running (names,
		// load balancing) changed on every node of its networks.
		running := old.task.Status.State == model.TaskStateRunning
		old.task = t
		for _, n := range old.nets {
			r.netTasks[n][t.ID] = t
			if running != (t.Status.State == model.TaskStateRunning) {
				r.dirtyNets[n] = true
			}
		}
		return
	}
	if old != nil {
		r.drop(t.ID, old)
	}
	if deleted || !needsResources(t) {
		return
	}
	u := &taskUse{node: t.NodeID, task: t}
	for _, s := range t.Spec.Container.Secrets {
		u.secrets = append(u.secrets, s.SecretID)
		if count(r.nodeSecrets, u.node, s.SecretID, 1) {
			r.dirtySecrets[u.node] = true
		}
	}
	for _, c := range t.Spec.Container.Configs {
		u.configs = append(u.configs, c.ConfigID)
		if count(r.nodeConfigs, u.node, c.ConfigID, 1) {
			r.dirtySecrets[u.node] = true
		}
	}
	for _, a := range t.Networks {
		u.nets = append(u.nets, a.NetworkID)
		count(r.nodeNets, u.node, a.NetworkID, 1)
		m := r.netTasks[a.NetworkID]
		if m == nil {
			m = map[string]*model.Task{}
			r.netTasks[a.NetworkID] = m
		}
		m[t.ID] = t
		r.dirtyNets[a.NetworkID] = true
	}
	r.uses[t.ID] = u
}

func attachmentEqual(a, b model.NetworkAttachment) bool {
	return a.NetworkID == b.NetworkID && slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Aliases, b.Aliases)
}

func (r *resources) drop(id string, u *taskUse) {
	delete(r.uses, id)
	for _, s := range u.secrets {
		if count(r.nodeSecrets, u.node, s, -1) {
			r.dirtySecrets[u.node] = true
		}
	}
	for _, c := range u.configs {
		if count(r.nodeConfigs, u.node, c, -1) {
			r.dirtySecrets[u.node] = true
		}
	}
	for _, n := range u.nets {
		count(r.nodeNets, u.node, n, -1)
		delete(r.netTasks[n], id)
		if len(r.netTasks[n]) == 0 {
			delete(r.netTasks, n)
		}
		r.dirtyNets[n] = true
		// The node may have left the network.
		r.dirtyViews[u.node] = true
	}
}

func (r *resources) observeService(s *model.Service, deleted bool) {
	old := r.services[s.ID]
	if deleted || s.Endpoint == nil || len(s.Endpoint.VirtualIPs) == 0 {
		if old != nil {
			delete(r.services, s.ID)
			r.vipsDirty(old)
		}
		return
	}
	if old != nil && reflect.DeepEqual(old.Endpoint, s.Endpoint) && old.Spec.Name == s.Spec.Name {
		r.services[s.ID] = s
		return
	}
	r.services[s.ID] = s
	if old != nil {
		r.vipsDirty(old)
	}
	r.vipsDirty(s)
}

func (r *resources) vipsDirty(s *model.Service) {
	for _, v := range s.Endpoint.VirtualIPs {
		r.dirtyNets[v.NetworkID] = true
	}
}

// observeNode follows a node's load-balancer addresses (and underlay
// address, which peers need).
func (r *resources) observeNode(n, old *model.Node, deleted bool) {
	var was []model.NodeNetworkAttachment
	if old != nil {
		was = old.Attachments
		if !deleted && slices.Equal(was, n.Attachments) && old.Status.Addr == n.Status.Addr {
			return // a status change: nothing peers see
		}
	} else if !deleted && len(n.Attachments) == 0 {
		return
	}
	for _, a := range was {
		delete(r.lbs[a.NetworkID], n.ID)
		r.dirtyNets[a.NetworkID] = true
	}
	r.dirtyViews[n.ID] = true
	if deleted {
		return
	}
	for _, a := range n.Attachments {
		m := r.lbs[a.NetworkID]
		if m == nil {
			m = map[string]string{}
			r.lbs[a.NetworkID] = m
		}
		m[n.ID] = a.Address
		r.dirtyNets[a.NetworkID] = true
	}
	if old != nil && old.Status.Addr != n.Status.Addr {
		for net := range r.nodeNets[n.ID] {
			r.dirtyNets[net] = true
		}
	}
}

// observeSecret marks the nodes holding a secret or config that changed.
func (r *resources) observeSecret(id string, holders map[string]map[string]int) {
	for node, c := range holders {
		if c[id] > 0 {
			r.dirtySecrets[node] = true
		}
	}
}

// secretsOf returns a node's whole set of secrets and configs.
func (r *resources) secretsOf(node string) *protocol.Secrets {
	out := &protocol.Secrets{}
	for _, id := range sortedKeys(r.nodeSecrets[node]) {
		if s := r.secrets[id]; s != nil {
			out.Secrets = append(out.Secrets, s)
		}
	}
	for _, id := range sortedKeys(r.nodeConfigs[node]) {
		if c := r.configs[id]; c != nil {
			out.Configs = append(out.Configs, c)
		}
	}
	return out
}

// networksOf returns the networks a node has tasks or an LB address on.
func (r *resources) networksOf(node string, n *model.Node) []string {
	nets := sortedKeys(r.nodeNets[node])
	if n != nil {
		for _, a := range n.Attachments {
			if !slices.Contains(nets, a.NetworkID) {
				nets = append(nets, a.NetworkID)
			}
		}
	}
	slices.Sort(nets)
	return nets
}

// viewOf returns a node's view of its networks.
func (r *resources) viewOf(node string, nodes map[string]*model.Node) *protocol.NetworkView {
	v := &protocol.NetworkView{}
	for _, id := range r.networksOf(node, nodes[node]) {
		n := r.networks[id]
		if n == nil {
			continue
		}
		ns := protocol.NetworkState{Network: n, LBAddress: r.lbs[id][node]}
		peers := map[string]bool{}
		for _, taskID := range sortedKeys(r.netTasks[id]) {
			t := r.netTasks[id][taskID]
			peers[t.NodeID] = true
			for _, a := range t.Networks {
				if a.NetworkID == id {
					ns.Endpoints = append(ns.Endpoints, protocol.TaskEndpoint{
						TaskID: t.ID, ServiceID: t.ServiceID, ServiceName: t.ServiceName, NodeID: t.NodeID,
						Addresses: a.Addresses, Aliases: a.Aliases, Running: t.Status.State == model.TaskStateRunning,
					})
				}
			}
		}
		for nodeID := range r.lbs[id] {
			peers[nodeID] = true
		}
		for _, nodeID := range sortedKeys(peers) {
			p := protocol.NetworkPeer{NodeID: nodeID, LBAddress: r.lbs[id][nodeID]}
			if o := nodes[nodeID]; o != nil {
				p.Addr = o.Status.Addr
			}
			ns.Peers = append(ns.Peers, p)
		}
		for _, sid := range sortedKeys(r.services) {
			s := r.services[sid]
			for _, vip := range s.Endpoint.VirtualIPs {
				if vip.NetworkID == id {
					ns.Services = append(ns.Services, protocol.ServiceVIP{
						ServiceID: s.ID, ServiceName: s.Spec.Name, Addr: vip.Addr, Ports: s.Endpoint.Ports,
					})
				}
			}
		}
		v.Networks = append(v.Networks, ns)
	}
	return v
}

// nodesOn returns the nodes that see network id.
func (r *resources) nodesOn(id string) []string {
	seen := map[string]bool{}
	for _, t := range r.netTasks[id] {
		seen[t.NodeID] = true
	}
	for node := range r.lbs[id] {
		seen[node] = true
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// flush sends each session whose secrets or view changed its whole set
// or view.
func (t *leadership) flushResources() {
	r := t.res
	for id := range r.dirtyNets {
		for _, node := range r.nodesOn(id) {
			r.dirtyViews[node] = true
		}
	}
	clear(r.dirtyNets)
	for node := range r.dirtySecrets {
		if s := t.nodeSession(node); s != nil {
			s.setSecrets(r.secretsOf(node))
		}
	}
	clear(r.dirtySecrets)
	for node := range r.dirtyViews {
		if s := t.nodeSession(node); s != nil {
			s.setNetworks(r.viewOf(node, t.nodeObjs))
		}
	}
	clear(r.dirtyViews)
}

// sendResources gives a new session its node's whole set and view.
func (t *leadership) sendResources(s *session) {
	s.setSecrets(t.res.secretsOf(s.nodeID))
	s.setNetworks(t.res.viewOf(s.nodeID, t.nodeObjs))
}
