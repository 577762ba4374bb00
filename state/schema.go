package state

import (
	"encoding/binary"
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// Index names.
const (
	indexID           = "id"
	indexName         = "name"
	indexServiceID    = "service_id"
	indexNodeID       = "node_id"
	indexSlot         = "slot"
	indexDesiredState = "desired_state"
	indexRole         = "role"
)

// stringIndex indexes one string taken from an object by fn. Values end in
// a zero byte, as memdb's own string indexes do, so that prefix lookups
// (index name + "_prefix") work on the unterminated value.
type stringIndex struct {
	fn func(obj any) (string, bool)
}

var (
	_ memdb.SingleIndexer = stringIndex{}
	_ memdb.PrefixIndexer = stringIndex{}
)

func (ix stringIndex) FromObject(obj any) (bool, []byte, error) {
	v, ok := ix.fn(obj)
	if !ok || v == "" {
		return false, nil, nil
	}
	return true, append([]byte(v), 0), nil
}

func (ix stringIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return append([]byte(s), 0), nil
}

func (ix stringIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("state: index takes one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("state: index argument must be a string, got %T", args[0])
	}
	return s, nil
}

// slotIndex indexes tasks of replicated services by (service ID, slot).
type slotIndex struct{}

func (slotIndex) FromObject(obj any) (bool, []byte, error) {
	t := obj.(*Task)
	if t.Slot == 0 {
		return false, nil, nil
	}
	return true, slotKey(t.ServiceID, t.Slot), nil
}

func (slotIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("state: slot index takes service ID and slot")
	}
	id, ok1 := args[0].(string)
	slot, ok2 := args[1].(uint64)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("state: slot index takes (string, uint64)")
	}
	return slotKey(id, slot), nil
}

func slotKey(serviceID string, slot uint64) []byte {
	b := make([]byte, 0, len(serviceID)+9)
	b = append(b, serviceID...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, slot)
}

// desiredStateIndex indexes tasks by desired state.
type desiredStateIndex struct{}

func (desiredStateIndex) FromObject(obj any) (bool, []byte, error) {
	return true, stateKey(obj.(*Task).DesiredState), nil
}

func (desiredStateIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("state: desired state index takes one argument")
	}
	s, ok := args[0].(TaskState)
	if !ok {
		return nil, fmt.Errorf("state: desired state index takes a TaskState")
	}
	return stateKey(s), nil
}

func stateKey(s TaskState) []byte { return binary.BigEndian.AppendUint32(nil, uint32(s)) }

func idIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{
		Name:    indexID,
		Unique:  true,
		Indexer: stringIndex{fn: func(o any) (string, bool) { return o.(Object).GetID(), true }},
	}
}

// metaTable holds one storeMeta row, written in every transaction, so that
// a read transaction knows the index of the state it sees.
const (
	metaTable = "meta"
	metaID    = "meta"
)

type storeMeta struct {
	ID    string
	Index uint64
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		metaTable: {
			Name: metaTable,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return o.(*storeMeta).ID, true
				}}},
			},
		},
		string(KindCluster): {
			Name: string(KindCluster),
			Indexes: map[string]*memdb.IndexSchema{
				indexID: idIndex(),
				indexName: {Name: indexName, Unique: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return strings.ToLower(o.(*Cluster).Spec.Name), true
				}}},
			},
		},
		string(KindNode): {
			Name: string(KindNode),
			Indexes: map[string]*memdb.IndexSchema{
				indexID: idIndex(),
				// Hostnames are not unique: several nodes may share one.
				indexName: {Name: indexName, AllowMissing: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return strings.ToLower(o.(*Node).Description.Hostname), true
				}}},
				indexRole: {Name: indexRole, AllowMissing: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return string(o.(*Node).Role), true
				}}},
			},
		},
		string(KindService): {
			Name: string(KindService),
			Indexes: map[string]*memdb.IndexSchema{
				indexID: idIndex(),
				indexName: {Name: indexName, Unique: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return strings.ToLower(o.(*Service).Spec.Name), true
				}}},
			},
		},
		string(KindTask): {
			Name: string(KindTask),
			Indexes: map[string]*memdb.IndexSchema{
				indexID: idIndex(),
				indexServiceID: {Name: indexServiceID, AllowMissing: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return o.(*Task).ServiceID, true
				}}},
				indexNodeID: {Name: indexNodeID, AllowMissing: true, Indexer: stringIndex{fn: func(o any) (string, bool) {
					return o.(*Task).NodeID, true
				}}},
				indexSlot:         {Name: indexSlot, AllowMissing: true, Indexer: slotIndex{}},
				indexDesiredState: {Name: indexDesiredState, Indexer: desiredStateIndex{}},
			},
		},
	}}
}
