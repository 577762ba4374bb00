package model

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
)

// Networks, secrets and configs, and the fields that attach them to
// services, tasks and nodes. They are Docker-shaped but our own: the API
// converts them to and from Docker's types.

// ---------------------------------------------------------------------------
// Network

// Network is an overlay network that services attach their tasks to.
type Network struct {
	ID string `json:"id"`
	Meta
	Spec NetworkSpec `json:"spec"`

	// VNI is the network's VXLAN ID, given by the allocator; 0 until then.
	VNI uint32 `json:"vni,omitempty"`
	// IPAM is the effective address configuration: the spec's, or the
	// subnet and gateway the allocator took from the cluster's pool.
	IPAM []IPAMConfig `json:"ipam,omitempty"`
}

// NetworkSpec holds the user-settable network fields.
type NetworkSpec struct {
	Annotations
	// Driver is the network driver; only DriverOverlay is supported.
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	// Internal networks have no route outside the cluster.
	Internal bool `json:"internal,omitempty"`
	// Attachable networks accept containers that are not tasks.
	Attachable bool `json:"attachable,omitempty"`
	// Ingress marks the routing mesh's network: there is at most one.
	Ingress bool `json:"ingress,omitempty"`
	// IPAM is the requested address configuration; nil lets the
	// allocator choose a subnet from the cluster's pool.
	IPAM *IPAMOptions `json:"ipam,omitempty"`
}

// DriverOverlay is the only network driver of swarm-scoped networks.
const DriverOverlay = "overlay"

// IPAMOptions is a network's requested address configuration.
type IPAMOptions struct {
	// Driver is the IPAM driver; empty means the default one.
	Driver  string       `json:"driver,omitempty"`
	Configs []IPAMConfig `json:"configs,omitempty"`
}

// IPAMConfig is one address range of a network, in CIDR notation.
type IPAMConfig struct {
	Subnet  string `json:"subnet,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	// Range is the part of Subnet that task addresses are taken from.
	Range string `json:"range,omitempty"`
}

// NetworkAttachmentConfig asks for a service's tasks to be attached to a
// network.
type NetworkAttachmentConfig struct {
	// Target is the network's ID (the API resolves names to IDs).
	Target  string   `json:"target"`
	Aliases []string `json:"aliases,omitempty"`
}

// NetworkAttachment is a task's attachment to a network, with the
// addresses the allocator gave it.
type NetworkAttachment struct {
	NetworkID string `json:"network_id"`
	// Addresses are in CIDR notation, e.g. "10.0.1.5/24".
	Addresses []string `json:"addresses,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
}

// NodeNetworkAttachment is a node's load-balancer address on a network.
type NodeNetworkAttachment struct {
	NetworkID string `json:"network_id"`
	// Address is in CIDR notation.
	Address string `json:"address"`
}

// ResolutionMode is how a service's name resolves on its networks.
type ResolutionMode string

// Resolution modes.
const (
	// ResolutionModeVIP resolves to one virtual IP that balances over the
	// tasks. It is Docker's default.
	ResolutionModeVIP ResolutionMode = "vip"
	// ResolutionModeDNSRR resolves to the tasks' addresses, in turn.
	ResolutionModeDNSRR ResolutionMode = "dnsrr"
)

// Publish modes of PortConfig.
const (
	// PublishModeIngress publishes a port on every node through the
	// routing mesh; it is the default, as in Docker.
	PublishModeIngress = "ingress"
	// PublishModeHost publishes a port on the node running the task.
	PublishModeHost = "host"
)

// Endpoint is a service's allocated endpoint: what the allocator made of
// its EndpointSpec. The store keeps it across user updates of the service
// (see OpUpdateService); the allocator owns it.
type Endpoint struct {
	// Spec is the endpoint spec this was allocated for.
	Spec EndpointSpec `json:"spec"`
	// Ports are the published ports, with the ports the allocator chose
	// for the ones the spec left at 0.
	Ports      []PortConfig        `json:"ports,omitempty"`
	VirtualIPs []EndpointVirtualIP `json:"virtual_ips,omitempty"`
}

// EndpointVirtualIP is a service's virtual IP on one network.
type EndpointVirtualIP struct {
	NetworkID string `json:"network_id"`
	// Addr is in CIDR notation, e.g. "10.0.1.2/24".
	Addr string `json:"addr"`
}

// Defaults of the cluster's address pool, Docker's.
const (
	DefaultAddrPool   = "10.0.0.0/8"
	DefaultSubnetSize = 24
)

// AddrPool returns the pools networks' subnets are taken from: the spec's,
// or the default for clusters made before the setting existed.
func (s *ClusterSpec) AddrPool() []string {
	if len(s.DefaultAddrPool) == 0 {
		return []string{DefaultAddrPool}
	}
	return s.DefaultAddrPool
}

// Subnet returns the prefix length of the subnets taken from the pool.
func (s *ClusterSpec) Subnet() uint32 {
	if s.SubnetSize == 0 {
		return DefaultSubnetSize
	}
	return s.SubnetSize
}

// ---------------------------------------------------------------------------
// Secrets and configs

// Secret is sensitive data given to tasks as files. Its data is never
// returned by the API nor logged, and never changes after creation.
type Secret struct {
	ID string `json:"id"`
	Meta
	Spec SecretSpec `json:"spec"`
}

// SecretSpec holds a secret's name, labels and data.
type SecretSpec struct {
	Annotations
	Data []byte `json:"data,omitempty"`
}

// String keeps a secret's data out of whatever prints the spec (fmt's %v
// of a secret or of a struct holding one): it shows the name, the labels
// and the data's size.
func (s SecretSpec) String() string {
	return fmt.Sprintf("{Name:%s Labels:%v Data:(%d bytes)}", s.Name, s.Labels, len(s.Data))
}

// LogValue keeps a secret's data out of log lines, whatever the handler.
func (s SecretSpec) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.Any("labels", s.Labels), slog.Int("data_bytes", len(s.Data)))
}

// LogValue keeps a secret's data out of log lines, whatever the handler.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.Any("spec", s.Spec.LogValue()))
}

// Config is non-sensitive data given to tasks as files.
type Config struct {
	ID string `json:"id"`
	Meta
	Spec ConfigSpec `json:"spec"`
}

// ConfigSpec holds a config's name, labels and data.
type ConfigSpec struct {
	Annotations
	Data []byte `json:"data,omitempty"`
}

// FileTarget is where a secret or config appears in a task's container.
type FileTarget struct {
	// Name is the file name (under /run/secrets for secrets, or an
	// absolute path).
	Name string      `json:"name"`
	UID  string      `json:"uid,omitempty"`
	GID  string      `json:"gid,omitempty"`
	Mode os.FileMode `json:"mode,omitempty"`
}

// SecretReference gives a task's container a secret.
type SecretReference struct {
	SecretID   string     `json:"secret_id"`
	SecretName string     `json:"secret_name"`
	File       FileTarget `json:"file"`
}

// ConfigReference gives a task's container a config.
type ConfigReference struct {
	ConfigID   string     `json:"config_id"`
	ConfigName string     `json:"config_name"`
	File       FileTarget `json:"file"`
}

// ---------------------------------------------------------------------------
// Object methods

var (
	_ Object = (*Network)(nil)
	_ Object = (*Secret)(nil)
	_ Object = (*Config)(nil)
)

// GetID returns the object's ID.
func (n *Network) GetID() string { return n.ID }

// GetMeta returns the object's metadata.
func (n *Network) GetMeta() Meta { return n.Meta }

// Kind returns KindNetwork.
func (n *Network) Kind() Kind { return KindNetwork }
func (n *Network) isObject()  {}

// GetID returns the object's ID.
func (s *Secret) GetID() string { return s.ID }

// GetMeta returns the object's metadata.
func (s *Secret) GetMeta() Meta { return s.Meta }

// Kind returns KindSecret.
func (s *Secret) Kind() Kind { return KindSecret }
func (s *Secret) isObject()  {}

// GetID returns the object's ID.
func (c *Config) GetID() string { return c.ID }

// GetMeta returns the object's metadata.
func (c *Config) GetMeta() Meta { return c.Meta }

// Kind returns KindConfig.
func (c *Config) Kind() Kind { return KindConfig }
func (c *Config) isObject()  {}

// Copy returns a copy that may be modified. Slices are shared: replace
// them, never write into them.
func (n *Network) Copy() *Network {
	if n == nil {
		return nil
	}
	cp := *n
	cp.Spec.Annotations = n.Spec.Annotations.copy()
	cp.Spec.DriverOpts = maps.Clone(n.Spec.DriverOpts)
	if n.Spec.IPAM != nil {
		ipam := *n.Spec.IPAM
		ipam.Configs = slices.Clone(ipam.Configs)
		cp.Spec.IPAM = &ipam
	}
	cp.IPAM = slices.Clone(n.IPAM)
	return &cp
}

// Copy returns a copy that may be modified. Data is shared: it is never
// written in place.
func (s *Secret) Copy() *Secret {
	if s == nil {
		return nil
	}
	cp := *s
	cp.Spec.Annotations = s.Spec.Annotations.copy()
	return &cp
}

// Copy returns a copy that may be modified. Data is shared: it is never
// written in place.
func (c *Config) Copy() *Config {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Spec.Annotations = c.Spec.Annotations.copy()
	return &cp
}

// Copy returns a copy that may be modified.
func (e *Endpoint) Copy() *Endpoint {
	if e == nil {
		return nil
	}
	cp := *e
	cp.Ports = slices.Clone(e.Ports)
	cp.VirtualIPs = slices.Clone(e.VirtualIPs)
	return &cp
}
