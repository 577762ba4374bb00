package convert

import (
	"maps"

	"github.com/docker/docker/api/types/swarm"
	"github.com/shoal-dev/shoal/model"
)

// NodeToDocker converts a stored node for GET /nodes and GET /nodes/{id}.
// rootCA is the PEM of the cluster's root certificate
// (model.Cluster.RootCA.CACert), reported as the node's TLS trust root; nil
// leaves Description.TLSInfo empty. Leadership and reachability are read
// from n.ManagerStatus, which the caller fills in before converting.
func NodeToDocker(n *model.Node, rootCA []byte) swarm.Node {
	role := n.Spec.DesiredRole
	if role == "" {
		role = n.Role
	}
	out := swarm.Node{
		ID:   n.ID,
		Meta: metaToDocker(n.Meta),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Name: n.Spec.Name, Labels: labelsToDocker(n.Spec.Labels, nil, nil)},
			Role:         swarm.NodeRole(role),
			Availability: swarm.NodeAvailability(n.Spec.Availability),
		},
		Description: swarm.NodeDescription{
			Hostname: n.Description.Hostname,
			Platform: swarm.Platform{
				Architecture: n.Description.Platform.Architecture,
				OS:           n.Description.Platform.OS,
			},
			Resources: swarm.Resources{
				NanoCPUs:    n.Description.Resources.NanoCPUs,
				MemoryBytes: n.Description.Resources.MemoryBytes,
			},
			Engine: swarm.EngineDescription{
				EngineVersion: n.Description.Engine.EngineVersion,
				Labels:        maps.Clone(n.Description.Engine.Labels),
			},
			TLSInfo: tlsInfoFromPEM(rootCA),
		},
		Status: swarm.NodeStatus{
			State:   swarm.NodeState(n.Status.State),
			Message: n.Status.Message,
			Addr:    n.Status.Addr,
		},
	}
	if m := n.ManagerStatus; m != nil {
		out.ManagerStatus = &swarm.ManagerStatus{
			Leader:       m.Leader,
			Reachability: swarm.Reachability(m.Reachability),
			Addr:         m.Addr,
		}
		if out.ManagerStatus.Reachability == "" {
			out.ManagerStatus.Reachability = swarm.ReachabilityUnknown
		}
	}
	return out
}

// NodeSpecFromDocker validates and converts the spec of
// POST /nodes/{id}/update. The CLI always sends the whole spec it read, so
// Role and Availability are required, as in Docker.
func NodeSpecFromDocker(s swarm.NodeSpec) (model.NodeSpec, error) {
	c := &checker{}
	c.entriesAtMost("Labels", len(s.Labels))
	out := model.NodeSpec{
		Annotations: model.Annotations{Name: s.Name, Labels: cloneLabels(s.Labels)},
	}
	switch r := model.NodeRole(s.Role); r {
	case model.RoleWorker, model.RoleManager:
		out.DesiredRole = r
	default:
		c.invalid("Role", "%q: want worker or manager", s.Role)
	}
	switch a := model.Availability(s.Availability); a {
	case model.AvailabilityActive, model.AvailabilityPause, model.AvailabilityDrain:
		out.Availability = a
	default:
		c.invalid("Availability", "%q: want active, pause or drain", s.Availability)
	}
	if err := c.err(); err != nil {
		return model.NodeSpec{}, err
	}
	return out, nil
}
