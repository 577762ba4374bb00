package dashboard

import (
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/model"
	"github.com/shoal-dev/shoal/state"
)

// The page's view of the store: compact JSON objects, short keys, only
// what the page draws. A snapshot is sent when a page connects, then
// deltas of the same objects, keyed by ID.

type nodeView struct {
	ID     string `json:"id"`
	Host   string `json:"host"`
	Role   string `json:"role"`
	Avail  string `json:"avail"`
	State  string `json:"state"`
	Msg    string `json:"msg,omitempty"`
	Engine string `json:"engine,omitempty"`
	CPUs   int64  `json:"cpu,omitempty"` // NanoCPUs
	Mem    int64  `json:"mem,omitempty"` // bytes
	Addr   string `json:"addr,omitempty"`
}

type serviceView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Image    string `json:"image"`
	Global   bool   `json:"global,omitempty"`
	Replicas uint64 `json:"replicas"`
	// Version is the spec version tasks must reach: a rolling update's
	// progress is how many running tasks have it.
	Version   uint64 `json:"v"`
	Update    string `json:"upd,omitempty"`
	UpdateMsg string `json:"updmsg,omitempty"`
}

type taskView struct {
	ID      string `json:"id"`
	Service string `json:"svc"`
	Name    string `json:"name"`
	Node    string `json:"node,omitempty"`
	State   string `json:"st"`
	Desired string `json:"ds"`
	Version uint64 `json:"v"`
	Msg     string `json:"msg,omitempty"`
	Err     string `json:"err,omitempty"`
}

// snapshot is the first message of a stream.
type snapshot struct {
	Index    uint64        `json:"index"`
	Nodes    []nodeView    `json:"nodes"`
	Services []serviceView `json:"services"`
	Tasks    []taskView    `json:"tasks"`
	Events   []feedEvent   `json:"events"`
}

// delta carries the objects changed since the last message: their new
// state, or their ID in the removal lists.
type delta struct {
	Index        uint64        `json:"index"`
	Nodes        []nodeView    `json:"nodes,omitempty"`
	Services     []serviceView `json:"services,omitempty"`
	Tasks        []taskView    `json:"tasks,omitempty"`
	RemovedNodes []string      `json:"rmNodes,omitempty"`
	RemovedSvcs  []string      `json:"rmServices,omitempty"`
	RemovedTasks []string      `json:"rmTasks,omitempty"`
	Events       []feedEvent   `json:"events,omitempty"`
}

// feedEvent is one entry of the recent events feed.
type feedEvent struct {
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`   // node, service, task
	Action string    `json:"action"` // create, update, remove
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Detail string    `json:"detail,omitempty"`
}

func viewNode(n *model.Node) nodeView {
	v := nodeView{
		ID: n.ID, Host: n.Description.Hostname, Role: string(n.Role),
		Avail: string(n.Spec.Availability), State: string(n.Status.State), Msg: n.Status.Message,
		Engine: n.Description.Engine.EngineVersion,
		CPUs:   n.Description.Resources.NanoCPUs, Mem: n.Description.Resources.MemoryBytes,
		Addr: n.Status.Addr,
	}
	if v.Host == "" {
		v.Host = n.ID
	}
	return v
}

func viewService(s *model.Service) serviceView {
	v := serviceView{ID: s.ID, Name: s.Spec.Annotations.Name, Image: s.Spec.Task.Container.Image, Version: s.SpecVersion.Index}
	if s.Spec.Mode.Global != nil {
		v.Global = true
	} else if s.Spec.Mode.Replicated != nil {
		v.Replicas = s.Spec.Mode.Replicated.Replicas
	}
	if u := s.UpdateStatus; u != nil {
		v.Update, v.UpdateMsg = string(u.State), u.Message
	}
	return v
}

// taskVisible tells whether the page shows a task: it runs or is meant
// to. A task that stopped for good and is not meant to run is history,
// which `service ps` shows and a live view does not.
func taskVisible(t *model.Task) bool {
	return t.DesiredState <= model.TaskStateRunning || !t.Status.State.Terminal()
}

func viewTask(t *model.Task) taskView {
	return taskView{
		ID: t.ID, Service: t.ServiceID, Name: t.Name(), Node: t.NodeID,
		State: t.Status.State.String(), Desired: t.DesiredState.String(), Version: t.SpecVersion.Index,
		Msg: t.Status.Message, Err: t.Status.Err,
	}
}

// takeSnapshot reads the view from a store transaction.
func takeSnapshot(tx state.ReadTx) (*snapshot, error) {
	s := &snapshot{Index: tx.Index(), Nodes: []nodeView{}, Services: []serviceView{}, Tasks: []taskView{}}
	nodes, err := tx.FindNodes(state.All)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listing nodes: %w", err)
	}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, viewNode(n))
	}
	services, err := tx.FindServices(state.All)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listing services: %w", err)
	}
	for _, sv := range services {
		s.Services = append(s.Services, viewService(sv))
	}
	err = tx.ForEachTask(state.All, func(t *model.Task) bool {
		if taskVisible(t) {
			s.Tasks = append(s.Tasks, viewTask(t))
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: listing tasks: %w", err)
	}
	return s, nil
}

// coalescer gathers store events into one delta: the last state of each
// object wins, a removal drops an earlier update.
type coalescer struct {
	index    uint64
	nodes    map[string]*model.Node // nil value: removed
	services map[string]*model.Service
	tasks    map[string]*model.Task
	events   []feedEvent
}

func newCoalescer() *coalescer {
	return &coalescer{nodes: map[string]*model.Node{}, services: map[string]*model.Service{}, tasks: map[string]*model.Task{}}
}

func (c *coalescer) empty() bool {
	return len(c.nodes) == 0 && len(c.services) == 0 && len(c.tasks) == 0 && len(c.events) == 0
}

func (c *coalescer) add(b state.Batch, now time.Time) {
	c.index = b.Index
	for _, e := range b.Events {
		switch o := e.Object.(type) {
		case *model.Node:
			if e.Action == state.ActionDelete {
				c.nodes[o.ID] = nil
			} else {
				c.nodes[o.ID] = o
			}
		case *model.Service:
			if e.Action == state.ActionDelete {
				c.services[o.ID] = nil
			} else {
				c.services[o.ID] = o
			}
		case *model.Task:
			if e.Action == state.ActionDelete || !taskVisible(o) {
				c.tasks[o.ID] = nil
			} else {
				c.tasks[o.ID] = o
			}
		}
		if fe, ok := describe(e, b.Index, now); ok {
			c.events = append(c.events, fe)
		}
	}
}

// flush returns the delta and resets the coalescer.
func (c *coalescer) flush() *delta {
	d := &delta{Index: c.index, Events: c.events}
	for id, n := range c.nodes {
		if n == nil {
			d.RemovedNodes = append(d.RemovedNodes, id)
		} else {
			d.Nodes = append(d.Nodes, viewNode(n))
		}
	}
	for id, s := range c.services {
		if s == nil {
			d.RemovedSvcs = append(d.RemovedSvcs, id)
		} else {
			d.Services = append(d.Services, viewService(s))
		}
	}
	for id, t := range c.tasks {
		if t == nil {
			d.RemovedTasks = append(d.RemovedTasks, id)
		} else {
			d.Tasks = append(d.Tasks, viewTask(t))
		}
	}
	clear(c.nodes)
	clear(c.services)
	clear(c.tasks)
	c.events = nil
	return d
}

// describe turns a store event into a feed entry, or says it is not worth
// one: a task's status report that changes neither its state nor its node
// (a heartbeat-driven rewrite) is not.
func describe(e state.Event, index uint64, now time.Time) (feedEvent, bool) {
	fe := feedEvent{Index: index, Time: now, Action: e.Action.String()}
	if e.Action == state.ActionDelete {
		fe.Action = "remove"
	}
	switch o := e.Object.(type) {
	case *model.Node:
		fe.Type, fe.ID, fe.Name = "node", o.ID, o.Description.Hostname
		if old, ok := e.Old.(*model.Node); ok && e.Action == state.ActionUpdate {
			switch {
			case old.Spec.Availability != o.Spec.Availability:
				fe.Detail = "availability " + string(o.Spec.Availability)
			case old.Status.State != o.Status.State:
				fe.Detail = "status " + string(o.Status.State)
			case old.Role != o.Role:
				fe.Detail = "role " + string(o.Role)
			default:
				return fe, false
			}
		}
	case *model.Service:
		fe.Type, fe.ID, fe.Name = "service", o.ID, o.Spec.Annotations.Name
		if u := o.UpdateStatus; u != nil && e.Action == state.ActionUpdate {
			fe.Detail = "update " + string(u.State)
		}
	case *model.Task:
		fe.Type, fe.ID, fe.Name = "task", o.ID, o.Name()
		fe.Detail = o.Status.State.String()
		if o.NodeID != "" {
			fe.Detail += " on " + o.NodeID
		}
		if old, ok := e.Old.(*model.Task); ok && e.Action == state.ActionUpdate &&
			old.Status.State == o.Status.State && old.NodeID == o.NodeID && old.DesiredState == o.DesiredState {
			return fe, false
		}
		if old, ok := e.Old.(*model.Task); ok && old.Status.State == o.Status.State && old.DesiredState != o.DesiredState {
			fe.Detail = "desired " + o.DesiredState.String()
		}
	default:
		return fe, false
	}
	return fe, true
}
