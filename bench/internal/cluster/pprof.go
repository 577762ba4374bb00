package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/proctest"
)

// pprofEnv names the directory where a profiled manager writes the
// address of its pprof listener, as PID.addr.
const pprofEnv = "SHOAL_BENCH_PPROF_DIR"

// pprofHook is compiled into package main of cmd/manager through
// `go build -overlay`, so the profiled manager is the product's code plus
// this file, without a copy of the command in the repository.
const pprofHook = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

func init() {
	dir := os.Getenv("` + pprofEnv + `")
	if dir == "" {
		return
	}
	runtime.SetBlockProfileRate(int(1e6)) // one event per ms blocked
	runtime.SetMutexProfileFraction(100)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	_ = os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())+".addr"), []byte(l.Addr().String()), 0o644)
	go http.Serve(l, nil)
}
`

type pprofBuild struct {
	dir string // where the managers write their addresses
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// buildProfiled replaces the manager binary proctest built with one that
// serves pprof, and points the managers started from now on at a
// directory for their listener addresses.
func buildProfiled(tb proctest.TB) *pprofBuild {
	tb.Helper()
	bin := proctest.Binaries(tb)
	work := tb.TempDir()
	hook := filepath.Join(work, "zz_bench_pprof.go")
	if err := os.WriteFile(hook, []byte(pprofHook), 0o644); err != nil {
		tb.Fatal(err)
	}
	overlay := filepath.Join(work, "overlay.json")
	b, _ := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(repoRoot(), "cmd", "manager", "zz_bench_pprof.go"): hook,
	}})
	if err := os.WriteFile(overlay, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-overlay", overlay, "-o", filepath.Join(bin, "manager"), "./cmd/manager")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the profiled manager: %v\n%s", err, out)
	}
	dir := filepath.Join(work, "addrs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	os.Setenv(pprofEnv, dir)
	return &pprofBuild{dir: dir}
}

// pprofAddr returns the pprof listener of a profiled manager.
func (c *Cluster) pprofAddr(n *proctest.Node) (string, error) {
	if c.pprof == nil {
		return "", fmt.Errorf("cluster: managers not built with Options.Profile")
	}
	var addr []byte
	var err error
	for range 50 {
		addr, err = os.ReadFile(filepath.Join(c.pprof.dir, strconv.Itoa(n.PID())+".addr"))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.TrimSpace(string(addr)), err
}

// Profile fetches a profile from a profiled manager into path: kind is a
// pprof endpoint ("profile" for CPU over d, "allocs" for the allocations
// over d (since the start if d is 0), "heap", "block", "mutex",
// "goroutine"). It blocks for d for a CPU or allocation profile.
func (c *Cluster) Profile(n *proctest.Node, kind string, d time.Duration, path string) error {
	addr, err := c.pprofAddr(n)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s/debug/pprof/%s", addr, kind)
	if kind == "profile" || kind == "trace" || (kind == "allocs" && d > 0) {
		url += fmt.Sprintf("?seconds=%d", max(1, int(d.Round(time.Second)/time.Second)))
	}
	resp, err := (&http.Client{Timeout: d + time.Minute}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: %s", kind, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Profiling reports whether the managers serve pprof.
func (c *Cluster) Profiling() bool { return c.pprof != nil }
