package format

import (
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/swarm"
)

// ServiceRow is a service as `service ls --format json` prints it.
type ServiceRow struct {
	ID       string
	Name     string
	Mode     string
	Replicas string
	Image    string
	Ports    string
}

// Services renders services, sorted by name, as `service ls` shows them:
// ID NAME MODE REPLICAS IMAGE PORTS. REPLICAS is running/desired from the
// ServiceStatus the manager computed (GET /services?status=true), "?" for
// a count it did not send.
func Services(services []swarm.Service, opts ListOptions) *Listing {
	sorted := slices.Clone(services)
	slices.SortStableFunc(sorted, func(a, b swarm.Service) int {
		return strings.Compare(a.Spec.Name, b.Spec.Name)
	})
	l := &Listing{Header: []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"}}
	for _, s := range sorted {
		row := ServiceRow{
			ID:       s.ID,
			Name:     s.Spec.Name,
			Mode:     ServiceMode(s.Spec.Mode),
			Replicas: Replicas(s),
			Image:    containerImage(s.Spec.TaskTemplate),
			Ports:    Ports(servicePorts(s)),
		}
		l.IDs = append(l.IDs, ShortID(s.ID, opts.NoTrunc))
		l.Objects = append(l.Objects, row)
		image := row.Image
		if !opts.NoTrunc {
			image = DisplayImage(image)
		}
		l.Rows = append(l.Rows, []string{ShortID(s.ID, opts.NoTrunc), row.Name, row.Mode, row.Replicas, image, row.Ports})
	}
	return l
}

// ServiceMode names a service's mode as Docker does.
func ServiceMode(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	}
	return "replicated"
}

// Replicas is the REPLICAS column: running/desired tasks, with the
// per-node limit of a replicated service or the completions of a job.
func Replicas(s swarm.Service) string {
	var out string
	if st := s.ServiceStatus; st != nil {
		out = fmt.Sprintf("%d/%d", st.RunningTasks, st.DesiredTasks)
	} else if n, ok := DesiredReplicas(s.Spec.Mode); ok {
		out = fmt.Sprintf("?/%d", n)
	} else {
		out = "?"
	}
	if p := s.Spec.TaskTemplate.Placement; p != nil && p.MaxReplicas > 0 && s.Spec.Mode.Replicated != nil {
		out += fmt.Sprintf(" (max %d per node)", p.MaxReplicas)
	}
	// Jobs, as the docker CLI shows them: the completions too.
	if st := s.ServiceStatus; st != nil {
		switch m := s.Spec.Mode; {
		case m.ReplicatedJob != nil && m.ReplicatedJob.TotalCompletions != nil:
			out += fmt.Sprintf(" (%d/%d completed)", st.CompletedTasks, *m.ReplicatedJob.TotalCompletions)
		case m.GlobalJob != nil:
			out += fmt.Sprintf(" (%d/%d completed)", st.CompletedTasks, st.DesiredTasks+st.CompletedTasks)
		}
	}
	return out
}

// DesiredReplicas is the replica count of a replicated service; an unset
// count means 1, as in Docker. ok is false for other modes.
func DesiredReplicas(m swarm.ServiceMode) (n uint64, ok bool) {
	if m.Replicated == nil {
		return 0, false
	}
	if m.Replicated.Replicas == nil {
		return 1, true
	}
	return *m.Replicated.Replicas, true
}

func containerImage(t swarm.TaskSpec) string {
	if t.ContainerSpec == nil {
		return ""
	}
	return t.ContainerSpec.Image
}

// DisplayImage drops the digest the CLI pinned from a tagged image
// reference: "nginx:1.27@sha256:..." is shown as "nginx:1.27". A reference
// without a tag keeps its digest, the only thing that names the image.
func DisplayImage(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	tagged, ok := ref.(reference.NamedTagged)
	if !ok {
		return image
	}
	if _, digested := ref.(reference.Digested); !digested {
		return image
	}
	nt, err := reference.WithTag(reference.TrimNamed(tagged), tagged.Tag())
	if err != nil {
		return image
	}
	return reference.FamiliarString(nt)
}

func servicePorts(s swarm.Service) []swarm.PortConfig {
	if len(s.Endpoint.Ports) > 0 {
		return s.Endpoint.Ports
	}
	if s.Spec.EndpointSpec != nil {
		return s.Spec.EndpointSpec.Ports
	}
	return nil
}

// Ports renders published ports as Docker does, "*:8080->80/tcp", joined
// with commas. A host-mode port without a published port is shown as
// "*:0->80/tcp" in a spec (the node picks one) and with the port bound in
// a task's status.
func Ports(ports []swarm.PortConfig) string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = swarm.PortConfigProtocolTCP
		}
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, proto))
	}
	return strings.Join(out, ",")
}
