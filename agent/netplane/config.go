package netplane

import (
	"errors"
	"log/slog"
	"time"

	"github.com/docker/docker/client"
)

// Config configures a Plane.
type Config struct {
	// Docker is the engine the node's tasks run on. The caller keeps
	// ownership and closes it after the plane's last use.
	Docker *client.Client
	// NodeID is this node's ID: its entry among a network's peers gives
	// the host's underlay address.
	NodeID string
	// LockDir holds one lock file per Docker daemon, named after the
	// daemon's ID: the agent holding it owns the daemon's VXLAN devices.
	// /run/shoal: a tmpfs, so a lock never outlives a reboot, and shared
	// by every agent of the machine (network namespaces included).
	LockDir string
	// UnderlayMTU is the MTU of the network between hosts; overlays get
	// UnderlayMTU - VXLANOverhead. 0 reads it from the device that holds
	// the host's underlay address.
	UnderlayMTU int
	// Interval is how often the plane checks the engine and the kernel
	// against the view without being asked: Docker may recreate a bridge
	// after a restart, and a lock owner may die. 5 s: a rebuilt bridge
	// is repaired within a few seconds, at the cost of a few netlink
	// dumps and one engine list per period.
	Interval time.Duration
	// RemoveGrace is how old an unused Docker network of ours must be
	// before a plane whose view no longer has it removes it. Several
	// agents share one engine: another one may have just made the
	// network for a task it is about to create. 30 s is far more than a
	// create takes. A leftover network never in the view (a node killed
	// with SIGKILL) that holds a subnet the view needs must be as old.
	RemoveGrace time.Duration
	// Logger receives the plane's logs; nil is slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the settings for production; Docker and NodeID
// must still be set.
func DefaultConfig() Config {
	return Config{
		LockDir:     "/run/shoal",
		Interval:    5 * time.Second,
		RemoveGrace: 30 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch {
	case c.Docker == nil:
		return errors.New("netplane: no Docker client")
	case c.NodeID == "":
		return errors.New("netplane: no node ID")
	case c.LockDir == "":
		return errors.New("netplane: no lock directory")
	case c.UnderlayMTU != 0 && c.UnderlayMTU < 576+VXLANOverhead:
		return errors.New("netplane: underlay MTU below 626 leaves an overlay below IPv4's minimum of 576")
	case c.Interval <= 0:
		return errors.New("netplane: interval must be positive")
	case c.RemoveGrace < 0:
		return errors.New("netplane: negative remove grace")
	}
	return nil
}
