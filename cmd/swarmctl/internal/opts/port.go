package opts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// ParsePort parses a --publish value, in the long form
// "published=8080,target=80[,mode=host][,protocol=tcp]" or the short form
// "8080:80[/udp]". The mode defaults to host, where Docker's CLI defaults
// to ingress: nodes publish a port where they run a task, and an ingress
// port (mode=ingress) needs the routing mesh of the nodes' network side.
func ParsePort(s string) (swarm.PortConfig, error) {
	p := swarm.PortConfig{Protocol: swarm.PortConfigProtocolTCP, PublishMode: swarm.PortConfigPublishModeHost}
	if !strings.Contains(s, "=") {
		return parseShortPort(s, p)
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok {
			return p, fmt.Errorf("%q: %q is not KEY=VALUE; want published=P,target=T[,mode=host][,protocol=tcp]", s, field)
		}
		if seen[k] {
			return p, fmt.Errorf("%q: %s given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "published":
			n, err := parsePortNumber(v)
			if err != nil {
				return p, fmt.Errorf("%q: published: %w", s, err)
			}
			p.PublishedPort = n
		case "target":
			n, err := parsePortNumber(v)
			if err != nil {
				return p, fmt.Errorf("%q: target: %w", s, err)
			}
			p.TargetPort = n
		case "mode":
			switch m := swarm.PortConfigPublishMode(strings.ToLower(v)); m {
			case swarm.PortConfigPublishModeHost, swarm.PortConfigPublishModeIngress:
				p.PublishMode = m
			default:
				return p, fmt.Errorf("%q: mode %q: want host or ingress", s, v)
			}
		case "protocol":
			proto, err := parseProtocol(v)
			if err != nil {
				return p, fmt.Errorf("%q: %w", s, err)
			}
			p.Protocol = proto
		default:
			return p, fmt.Errorf("%q: unknown key %q; want published, target, mode or protocol", s, k)
		}
	}
	if p.TargetPort == 0 {
		return p, fmt.Errorf("%q: no target port; want published=P,target=T", s)
	}
	return p, nil
}

func parseShortPort(s string, p swarm.PortConfig) (swarm.PortConfig, error) {
	ports, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		pr, err := parseProtocol(proto)
		if err != nil {
			return p, fmt.Errorf("%q: %w", s, err)
		}
		p.Protocol = pr
	}
	published, target, hasPublished := strings.Cut(ports, ":")
	if !hasPublished {
		published, target = "", ports
	}
	n, err := parsePortNumber(target)
	if err != nil {
		return p, fmt.Errorf("%q: target: %w; want PUBLISHED:TARGET[/PROTOCOL] or published=P,target=T", s, err)
	}
	p.TargetPort = n
	if hasPublished {
		if p.PublishedPort, err = parsePortNumber(published); err != nil {
			return p, fmt.Errorf("%q: published: %w; want PUBLISHED:TARGET[/PROTOCOL]", s, err)
		}
	}
	return p, nil
}

func parsePortNumber(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint32(n), nil
}

func parseProtocol(s string) (swarm.PortConfigProtocol, error) {
	switch p := swarm.PortConfigProtocol(strings.ToLower(s)); p {
	case swarm.PortConfigProtocolTCP, swarm.PortConfigProtocolUDP, swarm.PortConfigProtocolSCTP:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q: want tcp, udp or sctp", s)
}

// PortKey identifies a published port for --publish-rm: the published
// port and protocol, as "8080/tcp".
func PortKey(p swarm.PortConfig) string {
	proto := p.Protocol
	if proto == "" {
		proto = swarm.PortConfigProtocolTCP
	}
	return fmt.Sprintf("%d/%s", p.PublishedPort, proto)
}

// ParsePortKey parses a --publish-rm value: "8080" or "8080/udp" (tcp by
// default), or a full --publish value, of which the published port and
// protocol count.
func ParsePortKey(s string) (string, error) {
	if strings.Contains(s, "=") || strings.Contains(s, ":") {
		p, err := ParsePort(s)
		if err != nil {
			return "", err
		}
		return PortKey(p), nil
	}
	port, proto, hasProto := strings.Cut(s, "/")
	n, err := parsePortNumber(port)
	if err != nil {
		return "", fmt.Errorf("%q: %w; want PUBLISHED[/PROTOCOL]", s, err)
	}
	p := swarm.PortConfig{PublishedPort: n, Protocol: swarm.PortConfigProtocolTCP}
	if hasProto {
		if p.Protocol, err = parseProtocol(proto); err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
	}
	return PortKey(p), nil
}
