package command

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/docker/docker/client"
	"github.com/spf13/pflag"
)

// EnvHost is the environment variable that names the manager when -H is
// not given.
const EnvHost = "SWARM_HOST"

// ErrNoHost is returned when neither -H nor SWARM_HOST names a manager.
// There is no default: a CLI that silently talks to whatever listens on a
// well-known path is how people change the wrong cluster.
var ErrNoHost = errors.New("no manager to talk to: set -H/--host or " + EnvHost +
	" to the manager's API, for example unix:///var/lib/shoal/manager1/swarm.sock or tcp://10.0.0.1:2375")

// HostOptions are the global flags that say which manager to talk to and
// how.
type HostOptions struct {
	Host      string
	TLSCACert string
	TLSCert   string
	TLSKey    string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// AddFlags registers -H/--host and the --tls* flags on fs.
func (o *HostOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Host, "host", "H", "", "manager API: unix:///path/to/swarm.sock or tcp://HOST:PORT (default $"+EnvHost+")")
	fs.StringVar(&o.TLSCACert, "tlscacert", "", "for tcp://: CA certificate that signed the manager's certificate (PEM)")
	fs.StringVar(&o.TLSCert, "tlscert", "", "for tcp://: client certificate (PEM)")
	fs.StringVar(&o.TLSKey, "tlskey", "", "for tcp://: client certificate's key (PEM)")
}

// UseTLS tells whether any --tls* flag was given.
func (o *HostOptions) UseTLS() bool {
	return o.TLSCACert != "" || o.TLSCert != "" || o.TLSKey != ""
}

// ResolveHost returns the manager address from -H, then SWARM_HOST, checked
// for shape.
func (o *HostOptions) ResolveHost() (string, error) {
	host := o.Host
	if host == "" {
		getenv := o.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		host = strings.TrimSpace(getenv(EnvHost))
	}
	if host == "" {
		return "", ErrNoHost
	}
	proto, addr, ok := strings.Cut(host, "://")
	switch {
	case !ok:
		return "", fmt.Errorf("host %q: want unix:///path/to/swarm.sock or tcp://HOST:PORT", host)
	case proto == "unix":
		if addr == "" {
			return "", fmt.Errorf("host %q: no socket path", host)
		}
		if o.UseTLS() {
			return "", fmt.Errorf("host %q: the --tls* flags apply to tcp:// hosts only", host)
		}
	case proto == "tcp":
		h, port, err := net.SplitHostPort(strings.TrimSuffix(addr, "/"))
		if err != nil || h == "" || port == "" {
			return "", fmt.Errorf("host %q: want tcp://HOST:PORT", host)
		}
	default:
		return "", fmt.Errorf("host %q: unsupported scheme %q (want unix or tcp)", host, proto)
	}
	if o.UseTLS() && (o.TLSCert == "") != (o.TLSKey == "") {
		return "", errors.New("--tlscert and --tlskey go together: the manager wants a client certificate and its key")
	}
	return host, nil
}

// Dial returns a Docker API client for the manager the options name. It
// does not connect: the first request does, negotiating the API version
// with the manager's /_ping.
func (o *HostOptions) Dial() (Client, error) {
	host, err := o.ResolveHost()
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{
		client.WithHost(host),
		client.WithAPIVersionNegotiation(),
		client.WithUserAgent("swarmctl"),
	}
	if o.UseTLS() {
		opts = append(opts, client.WithTLSClientConfig(o.TLSCACert, o.TLSCert, o.TLSKey))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("host %q: %w", host, err)
	}
	return c, nil
}
