package format

import (
	"io"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// PrettyNode writes the `node inspect --pretty` view of n.
func PrettyNode(w io.Writer, n swarm.Node) error {
	p := newPrettyWriter(w)
	p.field(0, "ID", n.ID)
	if n.Spec.Name != "" {
		p.field(0, "Name", n.Spec.Name)
	}
	p.labels(0, "Labels", n.Spec.Labels)
	p.field(0, "Hostname", n.Description.Hostname)
	p.field(0, "Joined at", Timestamp(n.CreatedAt))
	p.section(0, "Status")
	p.field(1, "State", Capitalize(string(n.Status.State)))
	if n.Status.Message != "" {
		p.field(1, "Message", n.Status.Message)
	}
	p.field(1, "Availability", Capitalize(string(n.Spec.Availability)))
	p.field(1, "Address", n.Status.Addr)
	p.field(0, "Role", n.Spec.Role)
	if m := n.ManagerStatus; m != nil {
		p.section(0, "Manager Status")
		p.field(1, "Address", m.Addr)
		p.field(1, "Raft Status", Capitalize(string(m.Reachability)))
		if m.Leader {
			p.field(1, "Leader", "Yes")
		} else {
			p.field(1, "Leader", "No")
		}
	}
	d := n.Description
	p.section(0, "Platform")
	p.field(1, "Operating System", d.Platform.OS)
	p.field(1, "Architecture", d.Platform.Architecture)
	p.section(0, "Resources")
	p.field(1, "CPUs", CPUs(d.Resources.NanoCPUs))
	p.field(1, "Memory", Bytes(d.Resources.MemoryBytes))
	p.field(0, "Engine Version", d.Engine.EngineVersion)
	p.labels(0, "Engine Labels", d.Engine.Labels)
	if t := d.TLSInfo; t.CertIssuerSubject != nil || t.TrustRoot != "" {
		p.section(0, "TLS Info")
		p.section(1, "TrustRoot")
		for _, l := range strings.Split(strings.TrimRight(t.TrustRoot, "\n"), "\n") {
			p.line(2, l)
		}
		p.field(1, "Issuer Subject", b64(t.CertIssuerSubject))
		p.field(1, "Issuer Public Key", b64(t.CertIssuerPublicKey))
	}
	return p.flush()
}
