package state

import (
	"strings"

	"github.com/shoal-dev/shoal/model"
)

// Index names.
const (
	indexName      = "name"
	indexServiceID = "service_id"
	indexNodeID    = "node_id"
	indexRole      = "role"
)

// The secondary indexes of each table. Every table also has its primary
// index by ID. Tasks are indexed only by service and node: the selectors
// by slot and by desired state scan the tasks of a service and all tasks,
// as their only users are rare reads, and every index costs each task
// write.
var (
	clusterSchema = []index[model.Cluster]{
		{name: indexName, unique: true, required: true, value: func(c *model.Cluster) string { return strings.ToLower(c.Spec.Name) }},
	}
	nodeSchema = []index[model.Node]{
		// Hostnames are not unique: several nodes may share one.
		{name: indexName, value: func(n *model.Node) string { return strings.ToLower(n.Description.Hostname) }},
		{name: indexRole, value: func(n *model.Node) string { return string(n.Role) }},
	}
	serviceSchema = []index[model.Service]{
		{name: indexName, unique: true, required: true, value: func(s *model.Service) string { return strings.ToLower(s.Spec.Name) }},
	}
	networkSchema = []index[model.Network]{
		{name: indexName, unique: true, required: true, value: func(n *model.Network) string { return strings.ToLower(n.Spec.Name) }},
	}
	secretSchema = []index[model.Secret]{
		{name: indexName, unique: true, required: true, value: func(s *model.Secret) string { return strings.ToLower(s.Spec.Name) }},
	}
	configSchema = []index[model.Config]{
		{name: indexName, unique: true, required: true, value: func(c *model.Config) string { return strings.ToLower(c.Spec.Name) }},
	}
	taskSchema = []index[model.Task]{
		{name: indexServiceID, value: func(t *model.Task) string { return t.ServiceID }},
		{name: indexNodeID, value: func(t *model.Task) string { return t.NodeID }},
	}
)

// db is one version of the store's contents. A committed db is never
// modified: a write transaction builds the next one from the tables it
// makes writable (see table.writable), whose nodes it copies as it writes
// them.
type db struct {
	// index is the store index of this version.
	index    uint64
	clusters table[model.Cluster]
	nodes    table[model.Node]
	services table[model.Service]
	tasks    table[model.Task]
	networks table[model.Network]
	secrets  table[model.Secret]
	configs  table[model.Config]
}

func newDB() *db {
	return &db{
		clusters: newTable(clusterSchema),
		nodes:    newTable(nodeSchema),
		services: newTable(serviceSchema),
		tasks:    newTable(taskSchema),
		networks: newTable(networkSchema),
		secrets:  newTable(secretSchema),
		configs:  newTable(configSchema),
	}
}

// seal makes db a committed version at index: its tables lose their
// owner, so that a write that did not go through a new transaction's
// owner copies the nodes it changes instead of changing them in place.
func (d *db) seal(index uint64) {
	d.index = index
	d.clusters.owner = nil
	d.nodes.owner = nil
	d.services.owner = nil
	d.tasks.owner = nil
	d.networks.owner = nil
	d.secrets.owner = nil
	d.configs.owner = nil
}
