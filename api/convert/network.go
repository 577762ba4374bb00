package convert

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// Networks, secrets, configs and the service fields that use them.

// Size bounds of secret and config data, SwarmKit's: data must be larger
// than 0 and less than these.
const (
	MaxSecretSize = 500 * 1024
	MaxConfigSize = 1000 * 1024
)

// MaxNetworkNameLength is the longest network name, as in SwarmKit: a
// network name is a DNS label.
const MaxNetworkNameLength = 63

// networkNameRE is SwarmKit's rule for network names (a DNS name
// component); secretNameRE is its rule for secret and config names.
var (
	networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)
	secretNameRE  = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)
)

// MsgSecretName is SwarmKit's refusal of a secret or config name.
const MsgSecretName = "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"

// predefinedNetworks are the names of Docker's local networks, which a
// swarm network may not take.
var predefinedNetworks = []string{network.NetworkDefault, network.NetworkBridge, network.NetworkHost, network.NetworkNone, network.NetworkNat}

// ScopeSwarm is the scope of every network shoal has.
const ScopeSwarm = "swarm"

// NetworkSpecFromDocker validates a POST /networks/create request and
// converts it. Only swarm-scoped overlay networks exist; the address
// configuration is checked as Docker checks it (IPv4 only).
func NetworkSpecFromDocker(req network.CreateRequest) (model.NetworkSpec, error) {
	c := &checker{}
	switch {
	case req.Name == "":
		c.invalid("Name", "a network name is required")
	case slices.Contains(predefinedNetworks, req.Name):
		c.invalid("Name", "%s is a pre-defined network and cannot be created", req.Name)
	case len(req.Name) > MaxNetworkNameLength:
		c.invalid("Name", "%q: name must be %d characters or fewer", req.Name, MaxNetworkNameLength)
	case !networkNameRE.MatchString(req.Name):
		c.invalid("Name", "%q: name must be valid as a DNS name component", req.Name)
	}
	switch req.Driver {
	case "", model.DriverOverlay:
	default:
		c.unsupported("Driver", "%q: only overlay networks are supported; shoal manages swarm-scoped networks only (docker network create -d overlay)", req.Driver)
	}
	switch req.Scope {
	case "", ScopeSwarm:
	default:
		c.unsupported("Scope", "%q: only swarm-scoped networks are supported", req.Scope)
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		c.unsupported("EnableIPv4", "networks without IPv4 are not supported")
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		c.unsupported("EnableIPv6", "IPv6 is not supported (--ipv6)")
	}
	c.refuse("ConfigOnly", req.ConfigOnly, "config-only networks are not supported (--config-only)")
	c.refuse("ConfigFrom", req.ConfigFrom, "networks made from a config-only network are not supported (--config-from)")
	c.refuse("Options", req.Options, "driver options are not supported (--opt): shoal's overlay has no options, and an option such as encrypted must not be silently ignored")
	out := model.NetworkSpec{
		Annotations: model.Annotations{Name: req.Name, Labels: cloneLabels(req.Labels)},
		Driver:      model.DriverOverlay,
		Internal:    req.Internal,
		Attachable:  req.Attachable,
		Ingress:     req.Ingress,
		IPAM:        ipamFromDocker(c, req.IPAM),
	}
	if err := c.err(); err != nil {
		return model.NetworkSpec{}, err
	}
	return out, nil
}

func ipamFromDocker(c *checker, ipam *network.IPAM) *model.IPAMOptions {
	if ipam == nil {
		return nil
	}
	switch ipam.Driver {
	case "", "default":
	default:
		c.unsupported("IPAM.Driver", "%q: only the default IPAM driver is supported (--ipam-driver)", ipam.Driver)
	}
	c.refuse("IPAM.Options", ipam.Options, "IPAM driver options are not supported (--ipam-opt)")
	if len(ipam.Config) == 0 {
		return nil
	}
	if err := network.ValidateIPAM(ipam, false); err != nil {
		c.invalid("IPAM.Config", "%v", err)
	}
	out := &model.IPAMOptions{}
	for i, cfg := range ipam.Config {
		f := index("IPAM.Config", i)
		c.refuse(f+".AuxiliaryAddresses", cfg.AuxAddress, "auxiliary addresses are not supported (--aux-address)")
		if cfg.Subnet == "" {
			c.invalid(f+".Subnet", "a subnet is required (--subnet)")
		} else if p, err := netip.ParsePrefix(cfg.Subnet); err == nil && !p.Addr().Is4() {
			c.unsupported(f+".Subnet", "%s: only IPv4 subnets are supported", cfg.Subnet)
		} else if err == nil && (p.Bits() < 8 || p.Bits() > 29) {
			c.invalid(f+".Subnet", "%s: a network's subnet must be between /8 and /29", cfg.Subnet)
		}
		out.Configs = append(out.Configs, model.IPAMConfig{Subnet: cfg.Subnet, Gateway: cfg.Gateway, Range: cfg.IPRange})
	}
	return out
}

// NetworkToDocker converts a stored network for GET /networks and
// GET /networks/{id}, shaped as a Docker manager answers for a swarm
// network: the effective address configuration once allocated (the
// requested one before), the VXLAN ID among the options, no local
// containers.
func NetworkToDocker(n *model.Network) network.Inspect {
	out := network.Inspect{
		Name:       n.Spec.Name,
		ID:         n.ID,
		Created:    n.CreatedAt,
		Scope:      ScopeSwarm,
		Driver:     n.Spec.Driver,
		EnableIPv4: true,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Internal:   n.Spec.Internal,
		Attachable: n.Spec.Attachable,
		Ingress:    n.Spec.Ingress,
		Containers: map[string]network.EndpointResource{},
		Options:    map[string]string{},
		Labels:     cloneLabels(n.Spec.Labels),
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.VNI != 0 {
		out.Options["com.docker.network.driver.overlay.vxlanid_list"] = strconv.FormatUint(uint64(n.VNI), 10)
	}
	cfgs := n.IPAM
	if len(cfgs) == 0 && n.Spec.IPAM != nil {
		cfgs = n.Spec.IPAM.Configs
	}
	for _, c := range cfgs {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: c.Subnet, Gateway: c.Gateway, IPRange: c.Range})
	}
	return out
}

// secretName validates the name of a secret or config, as SwarmKit does.
func secretName(c *checker, name string) {
	switch {
	case name == "":
		c.invalid("Name", "name must be provided")
	case len(name) > 64 || !secretNameRE.MatchString(name):
		c.invalid("Name", "%s", MsgSecretName)
	}
}

// SecretSpecFromDocker validates the spec of POST /secrets/create and
// converts it. The data is never part of an error message.
func SecretSpecFromDocker(s swarm.SecretSpec) (model.SecretSpec, error) {
	c := &checker{}
	secretName(c, s.Name)
	if len(s.Data) == 0 || len(s.Data) >= MaxSecretSize {
		c.invalid("Data", "secret data must be larger than 0 and less than %d bytes", MaxSecretSize)
	}
	c.refuse("Driver", s.Driver, "secret drivers are not supported: secrets are stored in the cluster (--driver)")
	c.refuse("Templating", s.Templating, "secret templating is not supported (--template-driver)")
	if err := c.err(); err != nil {
		return model.SecretSpec{}, err
	}
	return model.SecretSpec{Annotations: model.Annotations{Name: s.Name, Labels: cloneLabels(s.Labels)}, Data: s.Data}, nil
}

// SecretUpdateFromDocker validates the spec of POST /secrets/{id}/update:
// only the labels may change (the FSM checks the name and data against
// the stored secret). Data, if sent, is passed on for that check.
func SecretUpdateFromDocker(s swarm.SecretSpec) (model.SecretSpec, error) {
	c := &checker{}
	c.refuse("Driver", s.Driver, "secret drivers are not supported: secrets are stored in the cluster (--driver)")
	c.refuse("Templating", s.Templating, "secret templating is not supported (--template-driver)")
	if err := c.err(); err != nil {
		return model.SecretSpec{}, err
	}
	return model.SecretSpec{Annotations: model.Annotations{Name: s.Name, Labels: cloneLabels(s.Labels)}, Data: s.Data}, nil
}

// SecretToDocker converts a stored secret for GET /secrets and
// GET /secrets/{id}: never with its data.
func SecretToDocker(s *model.Secret) swarm.Secret {
	return swarm.Secret{
		ID:   s.ID,
		Meta: metaToDocker(s.Meta),
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.Spec.Name, Labels: labelsOrEmpty(s.Spec.Labels)}},
	}
}

// ConfigSpecFromDocker validates the spec of POST /configs/create and
// converts it.
func ConfigSpecFromDocker(s swarm.ConfigSpec) (model.ConfigSpec, error) {
	c := &checker{}
	secretName(c, s.Name)
	if len(s.Data) == 0 || len(s.Data) >= MaxConfigSize {
		c.invalid("Data", "config data must be larger than 0 and less than %d bytes", MaxConfigSize)
	}
	c.refuse("Templating", s.Templating, "config templating is not supported (--template-driver)")
	if err := c.err(); err != nil {
		return model.ConfigSpec{}, err
	}
	return model.ConfigSpec{Annotations: model.Annotations{Name: s.Name, Labels: cloneLabels(s.Labels)}, Data: s.Data}, nil
}

// ConfigUpdateFromDocker validates the spec of POST /configs/{id}/update,
// as SecretUpdateFromDocker.
func ConfigUpdateFromDocker(s swarm.ConfigSpec) (model.ConfigSpec, error) {
	c := &checker{}
	c.refuse("Templating", s.Templating, "config templating is not supported (--template-driver)")
	if err := c.err(); err != nil {
		return model.ConfigSpec{}, err
	}
	return model.ConfigSpec{Annotations: model.Annotations{Name: s.Name, Labels: cloneLabels(s.Labels)}, Data: s.Data}, nil
}

// ConfigToDocker converts a stored config, with its data.
func ConfigToDocker(c *model.Config) swarm.Config {
	return swarm.Config{
		ID:   c.ID,
		Meta: metaToDocker(c.Meta),
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Spec.Name, Labels: labelsOrEmpty(c.Spec.Labels)}, Data: c.Spec.Data},
	}
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return cloneLabels(l)
}

// networksFromDocker converts a service's network attachments. Targets
// are kept as sent (names or IDs): the API resolves them to IDs.
func networksFromDocker(c *checker, field string, nets []swarm.NetworkAttachmentConfig) []model.NetworkAttachmentConfig {
	var out []model.NetworkAttachmentConfig
	seen := map[string]int{}
	for i, n := range nets {
		f := index(field, i)
		if n.Target == "" {
			c.invalid(f+".Target", "a network is required")
		} else if j, dup := seen[n.Target]; dup {
			c.invalid(f+".Target", "network %s is already attached by %s", n.Target, index(field, j))
		}
		seen[n.Target] = i
		c.refuse(f+".DriverOpts", n.DriverOpts, "per-attachment driver options are not supported (--network name=X,driver-opt=...)")
		out = append(out, model.NetworkAttachmentConfig{Target: n.Target, Aliases: slices.Clone(n.Aliases)})
	}
	return out
}

func networksToDocker(nets []model.NetworkAttachmentConfig) []swarm.NetworkAttachmentConfig {
	if len(nets) == 0 {
		return nil
	}
	out := make([]swarm.NetworkAttachmentConfig, len(nets))
	for i, n := range nets {
		out[i] = swarm.NetworkAttachmentConfig{Target: n.Target, Aliases: slices.Clone(n.Aliases)}
	}
	return out
}

// checkFileTarget checks the file name of a secret's or config's file
// target (kind is "secret" or "config"): required, and unique among the
// container's targets of that kind, as SwarmKit requires.
func checkFileTarget(c *checker, f, kind, name string, targets map[string]string) {
	if name == "" {
		c.invalid(f+".File.Name", "malformed file %s reference, invalid target file name provided", kind)
		return
	}
	if prev, dup := targets[name]; dup {
		c.invalid(f+".File.Name", "%s references %s and %s have a conflicting target: '%s'", kind, prev, f, name)
	}
	targets[name] = f
}

func secretRefsFromDocker(c *checker, field string, refs []*swarm.SecretReference) []model.SecretReference {
	var out []model.SecretReference
	targets := map[string]string{}
	for i, r := range refs {
		f := index(field, i)
		if r == nil {
			c.invalid(f, "malformed secret reference")
			continue
		}
		if r.SecretID == "" && r.SecretName == "" {
			c.invalid(f, "malformed secret reference: a SecretID or SecretName is required")
		}
		if r.File == nil {
			c.invalid(f+".File", "malformed secret reference, no target provided")
			continue
		}
		checkFileTarget(c, f, "secret", r.File.Name, targets)
		out = append(out, model.SecretReference{SecretID: r.SecretID, SecretName: r.SecretName,
			File: model.FileTarget{Name: r.File.Name, UID: r.File.UID, GID: r.File.GID, Mode: r.File.Mode}})
	}
	return out
}

func configRefsFromDocker(c *checker, field string, refs []*swarm.ConfigReference) []model.ConfigReference {
	var out []model.ConfigReference
	targets := map[string]string{}
	for i, r := range refs {
		f := index(field, i)
		if r == nil {
			c.invalid(f, "malformed config reference")
			continue
		}
		if r.ConfigID == "" && r.ConfigName == "" {
			c.invalid(f, "malformed config reference: a ConfigID or ConfigName is required")
		}
		if r.Runtime != nil {
			c.unsupported(f+".Runtime", "runtime configs (credential specs) are not supported")
		}
		if r.File == nil {
			if r.Runtime == nil {
				c.invalid(f+".File", "malformed config reference, no target provided")
			}
			continue
		}
		checkFileTarget(c, f, "config", r.File.Name, targets)
		out = append(out, model.ConfigReference{ConfigID: r.ConfigID, ConfigName: r.ConfigName,
			File: model.FileTarget{Name: r.File.Name, UID: r.File.UID, GID: r.File.GID, Mode: r.File.Mode}})
	}
	return out
}

func secretRefsToDocker(refs []model.SecretReference) []*swarm.SecretReference {
	var out []*swarm.SecretReference
	for _, r := range refs {
		out = append(out, &swarm.SecretReference{SecretID: r.SecretID, SecretName: r.SecretName,
			File: &swarm.SecretReferenceFileTarget{Name: r.File.Name, UID: r.File.UID, GID: r.File.GID, Mode: r.File.Mode}})
	}
	return out
}

func configRefsToDocker(refs []model.ConfigReference) []*swarm.ConfigReference {
	var out []*swarm.ConfigReference
	for _, r := range refs {
		out = append(out, &swarm.ConfigReference{ConfigID: r.ConfigID, ConfigName: r.ConfigName,
			File: &swarm.ConfigReferenceFileTarget{Name: r.File.Name, UID: r.File.UID, GID: r.File.GID, Mode: r.File.Mode}})
	}
	return out
}

// endpointToDocker is Docker's Service.Endpoint: the allocated endpoint
// once the allocator has seen the service, else the spec in force with
// its ports as specified.
func endpointToDocker(s *model.Service, spec *swarm.EndpointSpec) swarm.Endpoint {
	if e := s.Endpoint; e != nil {
		out := swarm.Endpoint{Spec: *endpointSpecToDocker(&e.Spec), Ports: portsToDocker(e.Ports)}
		for _, v := range e.VirtualIPs {
			out.VirtualIPs = append(out.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: v.NetworkID, Addr: v.Addr})
		}
		return out
	}
	return swarm.Endpoint{Spec: *spec, Ports: slices.Clone(spec.Ports)}
}

// NetworkAttachments adds to a converted network the tasks running on it,
// as Docker lists a network's containers (by container ID: the task's
// name, its address and the MAC derived from it), and the nodes they run
// on as its peers (hostname and address), as Docker's overlay driver
// lists the hosts it exchanges traffic with.
func NetworkAttachments(out *network.Inspect, tasks []*model.Task, nodes map[string]*model.Node) {
	peers := map[string]bool{}
	for _, t := range tasks {
		if t.Status.State != model.TaskStateRunning || t.Status.Container == nil {
			continue
		}
		for _, a := range t.Networks {
			if a.NetworkID != out.ID || len(a.Addresses) == 0 {
				continue
			}
			slot := strconv.FormatUint(t.Slot, 10)
			if t.Slot == 0 {
				slot = t.NodeID // a global service's task
			}
			res := network.EndpointResource{
				Name:        t.ServiceName + "." + slot + "." + t.ID,
				EndpointID:  t.ID,
				IPv4Address: a.Addresses[0],
			}
			if p, err := netip.ParsePrefix(a.Addresses[0]); err == nil && p.Addr().Is4() {
				b := p.Addr().As4()
				res.MacAddress = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
			}
			out.Containers[t.Status.Container.ContainerID] = res
			peers[t.NodeID] = true
		}
	}
	ids := make([]string, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := network.PeerInfo{Name: id}
		if n := nodes[id]; n != nil {
			if n.Description.Hostname != "" {
				p.Name = n.Description.Hostname
			}
			p.IP = n.Status.Addr
		}
		out.Peers = append(out.Peers, p)
	}
}
