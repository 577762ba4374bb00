// Package machine describes the machine a benchmark runs on, for the
// header of its output: what BENCHMARKS.md quotes next to the numbers.
package machine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Describe returns one line per fact: CPUs, CPU model, memory, load, Go
// and Docker versions.
func Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: nproc %d, CPU %q, %s RAM, load average %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), loadAvg())
	fmt.Fprintf(&b, "go: %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if v := DockerVersion(); v != "" {
		fmt.Fprintf(&b, ", docker: %s", v)
	}
	b.WriteString("\n")
	return b.String()
}

// LoadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// LoadAvg1 is the 1-minute load average as text.
func LoadAvg1() string {
	l := loadAvg()
	first, _, _ := strings.Cut(l, " ")
	return first
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

// DockerVersion returns the Docker client and server versions, or "" if
// the docker CLI is missing or the daemon does not answer.
func DockerVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
