package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/model"
)

// commandFormatBinary is the first byte of a command in the binary format;
// a JSON command starts with '{'. A later format takes the next number.
// Encode writes commandFormatBinary2; DecodeCommand reads both.
//
// The format: the format byte, the command's time, the number of
// operations, and each operation: its type (a table string, see
// encoder.sym), a bit set of the fields it has (opField), and those
// fields in bit order. Objects (Cluster, Node, Service, Task, Network,
// Secret, Config, a node description, UpdateStatus, Import) are
// length-prefixed JSON, as they were in JSON entries; the batches that
// can hold 100k items are binary, with node IDs and messages as table
// strings. A field is written when JSON's omitempty would write it, so that decoding gives what decoding JSON
// gave: an empty list decodes as nil. TestCommandEncodingCoversEveryField
// fails when Op gains a field this does not write.
const commandFormatBinary byte = 1

// commandFormatBinary2 is format 1 but for services, which are binary
// (codec_service.go) instead of JSON: decoding a service's JSON was the
// largest part of applying a service update on every manager.
const commandFormatBinary2 byte = 2

// opField bits say which fields of an Op follow.
const (
	opID uint64 = 1 << iota
	opVersion
	opSpecVersion
	opCluster
	opNode
	opService
	opTask
	opNodeStatuses
	opNewTasks
	opIDs
	opDesiredState
	opAssignments
	opPending
	opTaskStatuses
	opUpdateStatus
	opImport
	opNetwork
	opSecret
	opConfig
	opTaskNetworks
	opFieldsEnd
)

// encodeBinaryFormat encodes c in format 1 or 2.
func (c *Command) encodeBinaryFormat(format byte) []byte {
	size := 32
	for i := range c.Ops {
		op := &c.Ops[i]
		size += 64 + 32*len(op.NewTasks) + 30*len(op.IDs) + 32*len(op.Assignments) +
			32*len(op.Pending) + 64*len(op.TaskStatuses) + 64*len(op.NodeStatuses)
	}
	e := &encoder{buf: make([]byte, 0, size), format: format}
	e.byte(format)
	e.time(c.Time)
	e.uvarint(uint64(len(c.Ops)))
	for i := range c.Ops {
		encodeOp(e, &c.Ops[i])
	}
	return e.buf
}

func encodeOp(e *encoder, op *Op) {
	var f uint64
	set := func(bit uint64, ok bool) {
		if ok {
			f |= bit
		}
	}
	set(opID, op.ID != "")
	set(opVersion, op.Version != 0)
	set(opSpecVersion, op.SpecVersion != 0)
	set(opCluster, op.Cluster != nil)
	set(opNode, op.Node != nil)
	set(opService, op.Service != nil)
	set(opTask, op.Task != nil)
	set(opNodeStatuses, len(op.NodeStatuses) > 0)
	set(opNewTasks, len(op.NewTasks) > 0)
	set(opIDs, len(op.IDs) > 0)
	set(opDesiredState, op.DesiredState != 0)
	set(opAssignments, len(op.Assignments) > 0)
	set(opPending, len(op.Pending) > 0)
	set(opTaskStatuses, len(op.TaskStatuses) > 0)
	set(opUpdateStatus, op.UpdateStatus != nil)
	set(opImport, op.Import != nil)
	set(opNetwork, op.Network != nil)
	set(opSecret, op.Secret != nil)
	set(opConfig, op.Config != nil)
	set(opTaskNetworks, len(op.TaskNetworks) > 0)

	e.sym(string(op.Type))
	e.uvarint(f)
	if f&opID != 0 {
		e.str(op.ID)
	}
	if f&opVersion != 0 {
		e.uvarint(op.Version)
	}
	if f&opSpecVersion != 0 {
		e.uvarint(op.SpecVersion)
	}
	if f&opCluster != 0 {
		e.json(op.Cluster)
	}
	if f&opNode != 0 {
		e.json(op.Node)
	}
	if f&opService != 0 {
		if e.format >= commandFormatBinary2 {
			encodeService(e, op.Service)
		} else {
			e.json(op.Service)
		}
	}
	if f&opTask != 0 {
		e.json(op.Task)
	}
	if f&opNodeStatuses != 0 {
		e.uvarint(uint64(len(op.NodeStatuses)))
		for i := range op.NodeStatuses {
			u := &op.NodeStatuses[i]
			e.str(u.ID)
			e.sym(string(u.Status.State))
			e.sym(u.Status.Message)
			e.sym(u.Status.Addr)
			e.bool(u.Description != nil)
			if u.Description != nil {
				e.json(u.Description)
			}
		}
	}
	if f&opNewTasks != 0 {
		e.uvarint(uint64(len(op.NewTasks)))
		for i := range op.NewTasks {
			nt := &op.NewTasks[i]
			e.str(nt.ID)
			e.uvarint(nt.Slot)
			e.sym(nt.NodeID)
		}
	}
	if f&opIDs != 0 {
		e.strs(op.IDs)
	}
	if f&opDesiredState != 0 {
		e.taskState(op.DesiredState)
	}
	if f&opAssignments != 0 {
		e.uvarint(uint64(len(op.Assignments)))
		for i := range op.Assignments {
			a := &op.Assignments[i]
			e.str(a.TaskID)
			e.sym(a.NodeID)
		}
	}
	if f&opPending != 0 {
		e.uvarint(uint64(len(op.Pending)))
		for i := range op.Pending {
			p := &op.Pending[i]
			e.str(p.TaskID)
			e.sym(p.Message)
		}
	}
	if f&opTaskStatuses != 0 {
		e.uvarint(uint64(len(op.TaskStatuses)))
		for i := range op.TaskStatuses {
			u := &op.TaskStatuses[i]
			e.str(u.TaskID)
			encodeTaskStatus(e, &u.Status)
		}
	}
	if f&opUpdateStatus != 0 {
		e.json(op.UpdateStatus)
	}
	if f&opImport != 0 {
		e.json(op.Import)
	}
	if f&opNetwork != 0 {
		e.json(op.Network)
	}
	if f&opSecret != 0 {
		e.json(op.Secret)
	}
	if f&opConfig != 0 {
		e.json(op.Config)
	}
	if f&opTaskNetworks != 0 {
		e.uvarint(uint64(len(op.TaskNetworks)))
		for i := range op.TaskNetworks {
			tn := &op.TaskNetworks[i]
			e.str(tn.TaskID)
			e.uvarint(uint64(len(tn.Networks)))
			for j := range tn.Networks {
				a := &tn.Networks[j]
				e.sym(a.NetworkID)
				e.strs(a.Addresses)
				e.strs(a.Aliases)
			}
		}
	}
}

// json writes v as length-prefixed JSON. The objects of commands always
// encode: a failure is a bug.
func (e *encoder) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("state: encoding a command: " + err.Error())
	}
	e.bytes(b)
}

// decodeBinaryCommand decodes b, a binary command in format (1 or 2)
// without its format byte. Its strings share one copy of b.
func decodeBinaryCommand(b []byte, format byte) (*Command, error) {
	d := &decoder{b: b, shared: string(b), format: format}
	c := &Command{Time: d.time()}
	n := d.count(2)
	if n > 0 {
		c.Ops = make([]Op, n)
	}
	for i := range c.Ops {
		decodeOp(d, &c.Ops[i])
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail(errors.New("bytes left over"))
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

func decodeOp(d *decoder, op *Op) {
	op.Type = OpType(d.sym())
	f := d.uvarint()
	if f >= opFieldsEnd {
		d.fail(fmt.Errorf("unknown fields %#x", f))
		return
	}
	if f&opID != 0 {
		op.ID = d.str()
	}
	if f&opVersion != 0 {
		op.Version = d.uvarint()
	}
	if f&opSpecVersion != 0 {
		op.SpecVersion = d.uvarint()
	}
	if f&opCluster != 0 {
		op.Cluster = decodeJSON[model.Cluster](d)
	}
	if f&opNode != 0 {
		op.Node = decodeJSON[model.Node](d)
	}
	if f&opService != 0 {
		if d.format >= commandFormatBinary2 {
			op.Service = decodeService(d)
		} else {
			op.Service = decodeJSON[model.Service](d)
		}
	}
	if f&opTask != 0 {
		op.Task = decodeJSON[model.Task](d)
	}
	if f&opNodeStatuses != 0 {
		op.NodeStatuses = make([]NodeStatusUpdate, d.count(5))
		for i := range op.NodeStatuses {
			u := &op.NodeStatuses[i]
			u.ID = d.str()
			u.Status = model.NodeStatus{State: model.NodeState(d.sym()), Message: d.sym(), Addr: d.sym()}
			if d.bool() {
				u.Description = decodeJSON[model.NodeDescription](d)
			}
		}
	}
	if f&opNewTasks != 0 {
		op.NewTasks = make([]NewTask, d.count(3))
		for i := range op.NewTasks {
			op.NewTasks[i] = NewTask{ID: d.str(), Slot: d.uvarint(), NodeID: d.sym()}
		}
	}
	if f&opIDs != 0 {
		op.IDs = d.strs()
	}
	if f&opDesiredState != 0 {
		op.DesiredState = d.taskState()
	}
	if f&opAssignments != 0 {
		op.Assignments = make([]Assignment, d.count(2))
		for i := range op.Assignments {
			op.Assignments[i] = Assignment{TaskID: d.str(), NodeID: d.sym()}
		}
	}
	if f&opPending != 0 {
		op.Pending = make([]PendingReason, d.count(2))
		for i := range op.Pending {
			op.Pending[i] = PendingReason{TaskID: d.str(), Message: d.sym()}
		}
	}
	if f&opTaskStatuses != 0 {
		op.TaskStatuses = make([]model.TaskStatusUpdate, d.count(20))
		for i := range op.TaskStatuses {
			u := &op.TaskStatuses[i]
			u.TaskID = d.str()
			decodeTaskStatus(d, &u.Status)
		}
	}
	if f&opUpdateStatus != 0 {
		op.UpdateStatus = decodeJSON[model.UpdateStatus](d)
	}
	if f&opImport != 0 {
		op.Import = decodeJSON[ImportSet](d)
	}
	if f&opNetwork != 0 {
		op.Network = decodeJSON[model.Network](d)
	}
	if f&opSecret != 0 {
		op.Secret = decodeJSON[model.Secret](d)
	}
	if f&opConfig != 0 {
		op.Config = decodeJSON[model.Config](d)
	}
	if f&opTaskNetworks != 0 {
		op.TaskNetworks = make([]TaskNetworks, d.count(2))
		for i := range op.TaskNetworks {
			tn := &op.TaskNetworks[i]
			tn.TaskID = d.str()
			n := d.count(3)
			if n > 0 {
				tn.Networks = make([]model.NetworkAttachment, n)
			}
			for j := range tn.Networks {
				tn.Networks[j] = model.NetworkAttachment{NetworkID: d.sym(), Addresses: d.strs(), Aliases: d.strs()}
			}
		}
	}
}

func decodeJSON[T any](d *decoder) *T {
	b := d.raw(d.uvarint())
	if d.err != nil {
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		d.fail(err)
		return nil
	}
	return v
}
