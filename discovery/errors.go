package discovery

import "errors"

// Errors of the discovery package. Compare with errors.Is: functions wrap
// them with the detail at fault.
var (
	// ErrInvalidConfig is returned by Config.Validate, and so by New, for a
	// Config that cannot work.
	ErrInvalidConfig = errors.New("discovery: invalid config")
	// ErrNoKeys is part of the error Validate returns for a Config without
	// gossip keys that does not set InsecureNoEncryption.
	ErrNoKeys = errors.New("discovery: no gossip key (gossip is always encrypted; InsecureNoEncryption is for tests only)")
	// ErrInvalidKey is returned for a gossip key that is not 16, 24 or 32
	// bytes long, or that is listed twice.
	ErrInvalidKey = errors.New("discovery: invalid gossip key")
	// ErrInvalidMeta is returned by DecodeMeta and Meta.Validate for node
	// metadata that is malformed, too large or inconsistent.
	ErrInvalidMeta = errors.New("discovery: invalid node metadata")
	// ErrRemoved is returned by New for a node that IsRemoved reports as
	// removed from the cluster, and used to refuse such nodes in gossip.
	ErrRemoved = errors.New("discovery: node was removed from the cluster")
	// ErrNotEncrypted is returned by SetKeys on a Gossip started without
	// keys (InsecureNoEncryption): encryption cannot be turned on in place.
	ErrNotEncrypted = errors.New("discovery: gossip was started without encryption")
	// ErrShutdown is returned by calls on a Gossip after Shutdown.
	ErrShutdown = errors.New("discovery: gossip is shut down")
)
