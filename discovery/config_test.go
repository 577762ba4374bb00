package discovery

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/model"
)

func validConfig(profile Config) Config {
	c := profile
	c.NodeID = "m1"
	c.Role = model.RoleManager
	c.ClusterAddr = "10.0.0.1:2377"
	c.Keys = [][]byte{bytes.Repeat([]byte{1}, 32)}
	return c
}

func TestProfilesAreValid(t *testing.T) {
	for name, p := range map[string]Config{"lan": DefaultLANConfig(), "local": DefaultLocalConfig(), "wan": DefaultWANConfig()} {
		c := validConfig(p)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without identity, a profile is not usable on its own.
	c := DefaultLANConfig()
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrNoKeys) || !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("bare profile: %v", err)
	}
}

func TestProfilesOrderedBySpeed(t *testing.T) {
	local, lan, wan := DefaultLocalConfig(), DefaultLANConfig(), DefaultWANConfig()
	for _, n := range []int{3, 10, 200} {
		tl, tn, tw := local.Timing(n), lan.Timing(n), wan.Timing(n)
		if !(tl.Detection < tn.Detection && tn.Detection < tw.Detection) {
			t.Errorf("n=%d: detection local %v, lan %v, wan %v", n, tl.Detection, tn.Detection, tw.Detection)
		}
		if !(tl.StallTolerance < tn.StallTolerance && tn.StallTolerance < tw.StallTolerance) {
			t.Errorf("n=%d: stall tolerance local %v, lan %v, wan %v", n, tl.StallTolerance, tn.StallTolerance, tw.StallTolerance)
		}
	}
	// memberlist's formula: 4 × max(1, log10(200)) × 500 ms.
	if got := lan.Timing(200).SuspicionMin; got != 4*2301*500*time.Microsecond {
		t.Errorf("LAN suspicion at 200 members = %v", got)
	}
	if got := lan.Timing(5); got.SuspicionMin != 2*time.Second || got.SuspicionMax != 12*time.Second {
		t.Errorf("LAN timing at 5 members = %+v", got)
	}
}

func TestValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no keys":              func(c *Config) { c.Keys = nil },
		"short key":            func(c *Config) { c.Keys = [][]byte{[]byte("0123456789")} },
		"duplicate key":        func(c *Config) { c.Keys = append(c.Keys, c.Keys[0]) },
		"no node ID":           func(c *Config) { c.NodeID = "" },
		"bad role":             func(c *Config) { c.Role = "boss" },
		"manager without addr": func(c *Config) { c.ClusterAddr = "" },
		"bind not an IP":       func(c *Config) { c.BindAddr = "localhost:7946" },
		"bind no port":         func(c *Config) { c.BindAddr = "0.0.0.0" },
		"advertise port 0":     func(c *Config) { c.AdvertiseAddr = "10.0.0.1:0" },
		"no logger":            func(c *Config) { c.Logger = nil },
		"probe timeout":        func(c *Config) { c.ProbeTimeout = c.ProbeInterval },
		"no indirect checks":   func(c *Config) { c.IndirectChecks = 0 },
		"suspicion mult":       func(c *Config) { c.SuspicionMult = 0 },
		"gossip nodes":         func(c *Config) { c.GossipNodes = 0 },
		"negative reconnect":   func(c *Config) { c.ReconnectInterval = -time.Second },
		"label":                func(c *Config) { c.Label = string(make([]byte, 256)) },
	} {
		c := validConfig(DefaultLANConfig())
		mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
	c := validConfig(DefaultLANConfig())
	c.Keys = nil
	if err := c.Validate(); !errors.Is(err, ErrNoKeys) {
		t.Errorf("no keys: %v, want ErrNoKeys", err)
	}
	c.InsecureNoEncryption = true
	if err := c.Validate(); err != nil {
		t.Errorf("no keys with InsecureNoEncryption: %v", err)
	}
	c = validConfig(DefaultLANConfig())
	c.BindAddr = ":7946" // any address
	c.AdvertiseAddr = "[fd00::1]:7946"
	c.Logger = slog.New(slog.DiscardHandler)
	if err := c.Validate(); err != nil {
		t.Errorf("IPv6 advertise, empty bind host: %v", err)
	}
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=1.2.3.4:5\n", slog.LevelDebug, "Stream connection from=1.2.3.4:5"},
		{"[INFO] memberlist: Suspect w1 has failed, no acks received", slog.LevelInfo, "Suspect w1 has failed, no acks received"},
		{"[WARN] memberlist: Refuting a suspect message (from: w2)", slog.LevelWarn, "Refuting a suspect message (from: w2)"},
		{"[ERR] memberlist: Failed fallback TCP ping: io: read/write on closed pipe", slog.LevelError, "Failed fallback TCP ping: io: read/write on closed pipe"},
		{"[ERR] Failed to shutdown transport: x", slog.LevelError, "Failed to shutdown transport: x"},
		{"Err: Could not set the deadline: x", slog.LevelInfo, "Err: Could not set the deadline: x"},
	} {
		level, msg := parseLogLine(tc.line)
		if level != tc.level || msg != tc.msg {
			t.Errorf("parseLogLine(%q) = %v %q, want %v %q", tc.line, level, msg, tc.level, tc.msg)
		}
	}
}
