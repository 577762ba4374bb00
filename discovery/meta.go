package discovery

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/model"
)

// Meta is what a member tells the others about itself. It travels in
// memberlist's node metadata, so every alive message carries it: it is kept
// small and changes rarely (an update costs one broadcast to the cluster).
type Meta struct {
	// NodeID is the node's ID, also its memberlist name.
	NodeID string
	// Role is the node's role: the one it had when its gossip started, or
	// the one Gossip.SetRole gave it since.
	Role model.NodeRole
	// ClusterAddr is a manager's advertised cluster address (host:port of
	// port 2377: Raft and the HTTP routes), ManagerStatus.Addr. Empty for
	// workers.
	ClusterAddr string
	// APIAddr is the node's TCP control API address (host:port), if any.
	APIAddr string
	// Leaving is set by Leave just before the node leaves, so that the
	// others can tell a graceful leave (EventLeave) from a failure
	// (EventFailed): memberlist reports both the same way.
	Leaving bool
}

// Encoding of Meta, version 1:
//
//	byte 0     version (1)
//	byte 1     flags: bit 0 = leaving; other bits are ignored
//	byte 2     role: 1 = worker, 2 = manager
//	then       NodeID, ClusterAddr, APIAddr, each as a uvarint length and bytes
//
// Later versions only append fields and flags, so a decoder reads the fields
// it knows from any version >= 1 and ignores what follows; in version 1
// trailing bytes are an error. The largest valid version 1 encoding is 3 +
// (1+64) + 2×(2+200) = 472 bytes, under memberlist.MetaMaxSize (512).
const (
	metaVersion     = 1
	metaFlagLeaving = 1 << 0
	roleByteWorker  = 1
	roleByteManager = 2

	// MaxNodeIDLen is the longest node ID gossip accepts.
	MaxNodeIDLen = 64
	// maxAddrLen bounds ClusterAddr and APIAddr so that the metadata always
	// fits memberlist's limit: a DNS name of 190 bytes and a port fit.
	maxAddrLen = 200
)

// Encode returns the compact binary form of m, after validating it.
func (m Meta) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 3+3*binary.MaxVarintLen16+len(m.NodeID)+len(m.ClusterAddr)+len(m.APIAddr))
	var flags byte
	if m.Leaving {
		flags |= metaFlagLeaving
	}
	role := byte(roleByteWorker)
	if m.Role == model.RoleManager {
		role = roleByteManager
	}
	buf = append(buf, metaVersion, flags, role)
	for _, s := range []string{m.NodeID, m.ClusterAddr, m.APIAddr} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	if len(buf) > memberlist.MetaMaxSize {
		// Unreachable with the length limits above; kept as a guard
		// should a field be added without adjusting them.
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidMeta, len(buf), memberlist.MetaMaxSize)
	}
	return buf, nil
}

// DecodeMeta parses and validates metadata made by Encode.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) > memberlist.MetaMaxSize {
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidMeta, len(b), memberlist.MetaMaxSize)
	}
	if len(b) < 3 {
		return m, fmt.Errorf("%w: %d bytes, too short", ErrInvalidMeta, len(b))
	}
	version, flags, role := b[0], b[1], b[2]
	if version == 0 {
		return m, fmt.Errorf("%w: version 0", ErrInvalidMeta)
	}
	m.Leaving = flags&metaFlagLeaving != 0
	switch role {
	case roleByteWorker:
		m.Role = model.RoleWorker
	case roleByteManager:
		m.Role = model.RoleManager
	default:
		return m, fmt.Errorf("%w: unknown role %d", ErrInvalidMeta, role)
	}
	rest := b[3:]
	fields := []*string{&m.NodeID, &m.ClusterAddr, &m.APIAddr}
	for i, f := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return Meta{}, fmt.Errorf("%w: field %d truncated", ErrInvalidMeta, i)
		}
		*f = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if version == metaVersion && len(rest) > 0 {
		return Meta{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalidMeta, len(rest))
	}
	if err := m.Validate(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// Validate checks the fields of m: a valid node ID, a known role, well
// formed addresses, and a cluster address for managers.
func (m Meta) Validate() error {
	if err := validateNodeID(m.NodeID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMeta, err)
	}
	switch m.Role {
	case model.RoleWorker:
	case model.RoleManager:
		if m.ClusterAddr == "" {
			return fmt.Errorf("%w: manager %s has no cluster address", ErrInvalidMeta, m.NodeID)
		}
	default:
		return fmt.Errorf("%w: unknown role %q", ErrInvalidMeta, m.Role)
	}
	if m.ClusterAddr != "" {
		if err := validateHostPort(m.ClusterAddr); err != nil {
			return fmt.Errorf("%w: cluster address: %w", ErrInvalidMeta, err)
		}
	}
	if m.APIAddr != "" {
		if err := validateHostPort(m.APIAddr); err != nil {
			return fmt.Errorf("%w: API address: %w", ErrInvalidMeta, err)
		}
	}
	return nil
}

// validateNodeID accepts 1 to MaxNodeIDLen letters, digits, '-', '_' and
// '.': what model.NewID makes, and names tests use. No spaces, so that the
// ID can be found in memberlist's log lines.
func validateNodeID(id string) error {
	if id == "" {
		return fmt.Errorf("empty node ID")
	}
	if len(id) > MaxNodeIDLen {
		return fmt.Errorf("node ID of %d bytes, limit %d", len(id), MaxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("node ID %q: character %q not allowed", id, c)
		}
	}
	return nil
}

// validateHostPort accepts host:port with a non-empty host and a port in
// 1..65535, at most maxAddrLen bytes.
func validateHostPort(addr string) error {
	if len(addr) > maxAddrLen {
		return fmt.Errorf("address of %d bytes, limit %d", len(addr), maxAddrLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("address %q: invalid port", addr)
	}
	return nil
}
