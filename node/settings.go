package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// Default ports, as Docker's.
const (
	DefaultClusterPort = 2377
	DefaultGossipPort  = 7946
)

// WithDefaults returns s with its zero fields filled: the cluster port
// 2377 on all interfaces, advertised on the first non-loopback address,
// gossip on 7946, the API socket in dataDir.
func (s Settings) WithDefaults(dataDir string) (Settings, error) {
	if s.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return s, fmt.Errorf("hostname: %w", err)
		}
		s.Hostname = h
	}
	if s.ListenAddr == "" {
		s.ListenAddr = net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultClusterPort))
	}
	if s.AdvertiseAddr == "" {
		host, port, err := net.SplitHostPort(s.ListenAddr)
		if err != nil {
			return s, fmt.Errorf("--listen-addr %q: %w", s.ListenAddr, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, err = defaultAdvertiseIP()
			if err != nil {
				return s, err
			}
		}
		s.AdvertiseAddr = net.JoinHostPort(host, port)
	}
	if s.GossipAddr == "" {
		host, _, _ := net.SplitHostPort(s.AdvertiseAddr)
		s.GossipAddr = net.JoinHostPort(host, strconv.Itoa(DefaultGossipPort))
	}
	if s.APISocket == "" && dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return s, err
		}
		s.APISocket = filepath.Join(abs, "swarm.sock")
	}
	return s, nil
}

// defaultAdvertiseIP returns the first non-loopback IPv4 address of an up
// interface, or 127.0.0.1 on a machine that has none.
func defaultAdvertiseIP() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("listing interfaces for the advertise address: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "127.0.0.1", nil
}

// APISocketOff given as the API socket (--api-socket off) serves none; it
// is remembered like a path, so `run` keeps it off.
const APISocketOff = "off"

// APISocketPath is the Docker API socket the node serves, "" for none.
func (s Settings) APISocketPath() string {
	if s.APISocket == APISocketOff {
		return ""
	}
	return s.APISocket
}

// UIAddrOff given as the UI address of `manager run` stops serving the
// dashboard that init or join remembered.
const UIAddrOff = "off"

// Overlay returns s with the non-empty settings of over: the flags of
// `run` over the settings remembered at init or join.
func (s Settings) Overlay(over Settings) Settings {
	if over.Hostname != "" {
		s.Hostname = over.Hostname
	}
	if over.ListenAddr != "" {
		s.ListenAddr = over.ListenAddr
	}
	if over.AdvertiseAddr != "" {
		s.AdvertiseAddr = over.AdvertiseAddr
	}
	if over.GossipAddr != "" {
		s.GossipAddr = over.GossipAddr
	}
	if over.APISocket != "" {
		s.APISocket = over.APISocket
	}
	if over.APIAddr != "" {
		s.APIAddr = over.APIAddr
	}
	switch over.UIAddr {
	case "":
	case UIAddrOff:
		s.UIAddr = ""
	default:
		s.UIAddr = over.UIAddr
	}
	if over.Labels != nil {
		s.Labels = over.Labels
	}
	return s
}
