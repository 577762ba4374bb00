package hostbed

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// Root is the directory under which every bed keeps its files.
const Root = "/tmp/sb"

// Errors.
var (
	// ErrUnavailable means this machine cannot host a bed; the message
	// says what is missing.
	ErrUnavailable = errors.New("hostbed: unavailable")
	// ErrConfig is an invalid Config.
	ErrConfig = errors.New("hostbed: invalid config")
)

// Config describes a bed.
type Config struct {
	// Hosts is the number of hosts, 1 to 20.
	Hosts int
	// Images are copied from the machine's Docker daemon into each host's
	// (docker save | docker load): no registry is needed.
	Images []string
	// StorageDriver is the per-host dockerd's. Empty: the machine
	// daemon's (docker info), else fuse-overlayfs.
	StorageDriver string
	// MTU of the bridge, the veths and the hosts' Docker bridges. 1400, as
	// the machine's daemon here.
	MTU int
	// StartTimeout bounds each dockerd's start. 60 s: on a loaded
	// machine a dockerd and its containerd take several seconds.
	StartTimeout time.Duration
	// Logf receives progress lines. Nil: none.
	Logf func(format string, args ...any)
}

// DefaultConfig returns a three-host bed.
func DefaultConfig() Config {
	return Config{Hosts: 3, MTU: 1400, StartTimeout: 60 * time.Second}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Hosts < 1 || c.Hosts > 20 {
		return fmt.Errorf("%w: %d hosts: want 1 to 20", ErrConfig, c.Hosts)
	}
	if c.MTU < 576 {
		return fmt.Errorf("%w: MTU %d: want at least 576", ErrConfig, c.MTU)
	}
	if c.StartTimeout <= 0 {
		return fmt.Errorf("%w: start timeout must be positive", ErrConfig)
	}
	return nil
}

// Bed is a set of hosts joined by one bridge.
type Bed struct {
	// ID is the bed's random 4-hex-digit ID, in every name it makes.
	ID string
	// Bridge is the root namespace's bridge joining the hosts.
	Bridge string
	// Dir is the bed's directory, /tmp/sb/ID.
	Dir   string
	Hosts []*Host

	cfg       Config
	closeOnce sync.Once
	closeErr  error
}

// Host is one namespace with its dockerd.
type Host struct {
	// Name is hN, N from 1.
	Name string
	// NetNS is the namespace's name; NetNSPath its bind mount.
	NetNS, NetNSPath string
	// Veth is the root namespace's end of the host's link.
	Veth string
	// IP is the host's address on the bed's bridge.
	IP string
	// Dir is the host's directory: dockerd's data root (d), exec root (x),
	// socket and log; a good place for a shoal node's data dir too.
	Dir string
	// Socket is the dockerd's unix socket; DockerHost is unix://Socket.
	Socket, DockerHost string
	// Docker is a client of the host's dockerd.
	Docker *client.Client

	bed     *Bed
	dockerd *exec.Cmd
	done    chan struct{}
}

// Check tells whether this machine can host a bed, with what is missing.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces, veths, iptables, dockerd)", ErrUnavailable)
	}
	var missing []string
	for _, b := range []string{"ip", "nsenter", "iptables", "dockerd"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: not on PATH: %s (iproute2, util-linux, iptables, docker.io)", ErrUnavailable, strings.Join(missing, ", "))
	}
	return nil
}

// New starts a bed for a test, skips the test when the machine cannot host
// one, and closes the bed when the test ends.
func New(tb testing.TB, cfg Config) *Bed {
	tb.Helper()
	if err := Check(); err != nil {
		tb.Skip(err)
	}
	if cfg.Logf == nil {
		cfg.Logf = tb.Logf
	}
	b, err := Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("closing the host bed: %v", err)
		}
	})
	return b
}

// Start builds a bed. Zero fields of cfg take DefaultConfig's values. On
// error, what was built is removed.
func Start(cfg Config) (*Bed, error) {
	def := DefaultConfig()
	if cfg.Hosts == 0 {
		cfg.Hosts = def.Hosts
	}
	if cfg.MTU == 0 {
		cfg.MTU = def.MTU
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = def.StartTimeout
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := Check(); err != nil {
		return nil, err
	}
	Sweep(cfg.Logf)
	if cfg.StorageDriver == "" {
		cfg.StorageDriver = machineStorageDriver()
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	b := &Bed{ID: id, Bridge: "sb" + id, Dir: filepath.Join(Root, id), cfg: cfg}
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostbed: %w", err)
	}
	if err := writeState(b.Dir, cfg.Hosts); err != nil {
		return nil, err
	}
	if err := b.build(); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// newID returns 4 random hex digits not used by another bed.
func newID() (string, error) {
	for range 100 {
		var r [2]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("hostbed: %w", err)
		}
		id := hex.EncodeToString(r[:])
		if _, err := os.Stat(filepath.Join(Root, id)); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat("/sys/class/net/sb" + id); errors.Is(err, os.ErrNotExist) {
				return id, nil
			}
		}
	}
	return "", errors.New("hostbed: no free bed ID")
}

// writeState records the owner and the size, for Sweep and hosts.sh.
func writeState(dir string, hosts int) error {
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("hostbed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(strconv.Itoa(hosts)+"\n"), 0o600); err != nil {
		return fmt.Errorf("hostbed: %w", err)
	}
	return nil
}

// subnetOctet derives the bed's /24 (10.213.X.0/24) from its ID. The root
// bridge has no address, so beds with the same subnet do not conflict;
// distinct subnets only make captures easier to read.
func subnetOctet(id string) int {
	v, _ := strconv.ParseUint(id, 16, 16)
	return int(v % 250)
}

func (b *Bed) build() error {
	c := b.cfg
	b.cfg.Logf("hostbed %s: bridge %s, %d hosts, storage driver %s", b.ID, b.Bridge, c.Hosts, c.StorageDriver)
	mtu := strconv.Itoa(c.MTU)
	if err := run("ip", "link", "add", b.Bridge, "mtu", mtu, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "link", "set", b.Bridge, "up"); err != nil {
		return err
	}
	if err := run("iptables", "-I", "FORWARD", "-i", b.Bridge, "-o", b.Bridge, "-j", "ACCEPT"); err != nil {
		return err
	}
	net := subnetOctet(b.ID)
	for i := 1; i <= c.Hosts; i++ {
		h := &Host{
			Name:  "h" + strconv.Itoa(i),
			NetNS: fmt.Sprintf("sb%sh%d", b.ID, i),
			Veth:  fmt.Sprintf("sb%sh%d", b.ID, i),
			IP:    fmt.Sprintf("10.213.%d.%d", net, 10+i),
			Dir:   filepath.Join(b.Dir, "h"+strconv.Itoa(i)),
			bed:   b,
		}
		h.NetNSPath = "/run/netns/" + h.NetNS
		h.Socket = filepath.Join(h.Dir, "docker.sock")
		h.DockerHost = "unix://" + h.Socket
		b.Hosts = append(b.Hosts, h)
		if err := h.plumb(mtu); err != nil {
			return err
		}
	}
	// The daemons start in parallel: each takes seconds.
	errs := make([]error, len(b.Hosts))
	var wg sync.WaitGroup
	for i, h := range b.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.startDockerd(i + 1)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(c.Images) > 0 {
		if err := b.loadImages(c.Images); err != nil {
			return err
		}
	}
	return nil
}

// plumb makes the namespace and its link to the bridge.
func (h *Host) plumb(mtu string) error {
	peer := h.Veth + "p"
	steps := [][]string{
		{"ip", "netns", "add", h.NetNS},
		{"ip", "link", "add", h.Veth, "mtu", mtu, "type", "veth", "peer", "name", peer, "mtu", mtu},
		{"ip", "link", "set", peer, "netns", h.NetNS},
		{"ip", "link", "set", h.Veth, "master", h.bed.Bridge, "up"},
		{"ip", "-n", h.NetNS, "link", "set", peer, "name", "eth0"},
		{"ip", "-n", h.NetNS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		{"ip", "-n", h.NetNS, "link", "set", "eth0", "up"},
		{"ip", "-n", h.NetNS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return nil
}

// startDockerd starts the host's dockerd in its namespace and waits for it
// to answer.
func (h *Host) startDockerd(i int) error {
	c := h.bed.cfg
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("hostbed: %w", err)
	}
	logf, err := os.Create(filepath.Join(h.Dir, "dockerd.log"))
	if err != nil {
		return fmt.Errorf("hostbed: %w", err)
	}
	args := []string{"--net=" + h.NetNSPath, "dockerd",
		"--data-root", filepath.Join(h.Dir, "d"),
		"--exec-root", filepath.Join(h.Dir, "x"),
		"--pidfile", filepath.Join(h.Dir, "docker.pid"),
		"-H", h.DockerHost,
		"--storage-driver", c.StorageDriver,
		"--bip", fmt.Sprintf("172.29.%d.1/24", i),
		"--mtu", strconv.Itoa(c.MTU),
		"--iptables=true",
		"--log-level", "warn",
		// No daemon.json of the machine's: its data root would clash.
		"--config-file", filepath.Join(h.Dir, "daemon.json"),
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "daemon.json"), []byte("{}\n"), 0o600); err != nil {
		logf.Close()
		return fmt.Errorf("hostbed: %w", err)
	}
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("host %s: starting dockerd: %w", h.Name, err)
	}
	h.dockerd, h.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(h.done)
	}()
	cli, err := client.NewClientWithOpts(client.WithHost(h.DockerHost), client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("host %s: docker client: %w", h.Name, err)
	}
	h.Docker = cli
	deadline := time.Now().Add(c.StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			c.Logf("hostbed %s: host %s at %s, dockerd pid %d", h.bed.ID, h.Name, h.IP, cmd.Process.Pid)
			return nil
		}
		select {
		case <-h.done:
			return fmt.Errorf("host %s: dockerd exited: %s", h.Name, tailFile(filepath.Join(h.Dir, "dockerd.log"), 10))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("host %s: dockerd did not answer within %v: %w\n%s", h.Name, c.StartTimeout, err, tailFile(filepath.Join(h.Dir, "dockerd.log"), 10))
		}
	}
}

// loadImages copies images from the machine's daemon into every host's.
func (b *Bed) loadImages(images []string) error {
	src, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("hostbed: machine docker client: %w", err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, h := range b.Hosts {
		rc, err := src.ImageSave(ctx, images)
		if err != nil {
			return fmt.Errorf("hostbed: saving %v: %w", images, err)
		}
		resp, err := h.Docker.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("host %s: loading %v: %w", h.Name, images, err)
		}
	}
	b.cfg.Logf("hostbed %s: loaded %s into %d hosts", b.ID, strings.Join(images, ", "), len(b.Hosts))
	return nil
}

// Command returns a command that runs inside the host's network namespace
// (nsenter --net, not ip netns exec, which would also give it a mount
// namespace of its own: mounts the process makes would then be invisible
// to the host's dockerd), with DOCKER_HOST set to the host's dockerd.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"--net=" + h.NetNSPath, "--", name}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.DockerHost)
	return cmd
}

// Wrap is the command prefix that runs a program in the host's namespace.
func (h *Host) Wrap() []string { return []string{"nsenter", "--net=" + h.NetNSPath, "--"} }

// Partition cuts the host off: its veth goes down, so its packets and the
// others' packets to it are dropped, and no TCP reset reaches anyone.
func (h *Host) Partition() error { return run("ip", "link", "set", h.Veth, "down") }

// Heal brings the host's link back up.
func (h *Host) Heal() error { return run("ip", "link", "set", h.Veth, "up") }

// FreezeDocker stops the host's dockerd with SIGSTOP: its socket accepts
// connections and never answers. ThawDocker continues it.
func (h *Host) FreezeDocker() error { return h.signalDockerd(syscall.SIGSTOP) }

// ThawDocker continues a frozen dockerd.
func (h *Host) ThawDocker() error { return h.signalDockerd(syscall.SIGCONT) }

func (h *Host) signalDockerd(sig syscall.Signal) error {
	if h.dockerd == nil {
		return fmt.Errorf("host %s: no dockerd", h.Name)
	}
	return h.dockerd.Process.Signal(sig)
}

// DockerdPID returns the host's dockerd's process ID.
func (h *Host) DockerdPID() int { return h.dockerd.Process.Pid }

// Close tears the bed down; see the package documentation.
func (b *Bed) Close() error {
	b.closeOnce.Do(func() {
		for _, h := range b.Hosts {
			if h.Docker != nil {
				h.Docker.Close()
			}
			h.stopDockerd()
		}
		b.closeErr = teardown(b.ID, len(b.Hosts), b.cfg.Logf)
	})
	return b.closeErr
}

// stopDockerd asks dockerd to stop (it stops its containers and
// containerd), then kills it.
func (h *Host) stopDockerd() {
	if h.dockerd == nil {
		return
	}
	_ = h.dockerd.Process.Signal(syscall.SIGCONT)
	_ = h.dockerd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		_ = h.dockerd.Process.Kill()
		<-h.done
	}
}

// teardown removes everything a bed may have made, ignoring what is gone.
func teardown(id string, hosts int, logf func(string, ...any)) error {
	var errs []error
	for i := 1; i <= hosts; i++ {
		ns := fmt.Sprintf("sb%sh%d", id, i)
		killNamespace("/run/netns/" + ns)
	}
	dir := filepath.Join(Root, id)
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("sb%sh%d", id, i)
		if exists("/run/netns/" + name) {
			if err := run("ip", "netns", "del", name); err != nil {
				errs = append(errs, err)
			}
		}
		// Deleting the namespace deletes the veth pair, asynchronously.
		if exists("/sys/class/net/"+name) && run("ip", "link", "del", name) != nil && exists("/sys/class/net/"+name) {
			errs = append(errs, fmt.Errorf("hostbed: veth %s could not be deleted", name))
		}
	}
	br := "sb" + id
	for run("iptables", "-D", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT") == nil {
	}
	if exists("/sys/class/net/" + br) {
		if err := run("ip", "link", "del", br); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("hostbed: %w", err))
	}
	if len(errs) == 0 {
		logf("hostbed %s: torn down", id)
	}
	return errors.Join(errs...)
}

// killNamespace SIGKILLs every process whose network namespace is the one
// bound at path: containers, shims, containerd, shoal nodes.
func killNamespace(path string) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	for range 5 {
		entries, _ := os.ReadDir("/proc")
		var pids []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l == want {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("hostbed: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			p := unescapeMount(fields[4])
			if p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("hostbed: unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
		return u
	}
	return s
}

// Sweep tears down the beds whose owner process is gone.
func Sweep(logf func(string, ...any)) {
	entries, _ := os.ReadDir(Root)
	for _, e := range entries {
		dir := filepath.Join(Root, e.Name())
		owner, err1 := readInt(filepath.Join(dir, "owner"))
		hosts, err2 := readInt(filepath.Join(dir, "hosts"))
		if err1 != nil || err2 != nil {
			continue
		}
		if owner > 0 && syscall.Kill(owner, 0) == nil {
			continue
		}
		logf("hostbed: sweeping bed %s left by process %d", e.Name(), owner)
		if err := teardown(e.Name(), hosts, logf); err != nil {
			logf("hostbed: sweeping bed %s: %v", e.Name(), err)
		}
	}
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// machineStorageDriver is the machine daemon's storage driver, else
// fuse-overlayfs.
func machineStorageDriver() string {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if info, err := cli.Info(ctx); err == nil && info.Driver != "" {
			return info.Driver
		}
	}
	return "fuse-overlayfs"
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// run runs a command to completion; its error carries the output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("hostbed: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Place puts the proctest node named like a host (h1, h2...) on that host:
// set it as proctest.Cluster.Place. Other names stay on loopback.
func (b *Bed) Place(name string) *proctest.Placement {
	for _, h := range b.Hosts {
		if h.Name == name {
			return &proctest.Placement{IP: h.IP, Wrap: h.Wrap(), Env: []string{"DOCKER_HOST=" + h.DockerHost}}
		}
	}
	return nil
}

// Host returns the host named name (h1, h2...), or nil.
func (b *Bed) Host(name string) *Host {
	for _, h := range b.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}
