// Package benchmain is what every bench program does first and last: a
// proctest.Runner whose cleanups (processes, containers, temp dirs) also
// run on Ctrl-C, the machine header, and the exit status.
//
//	func main() {
//		r := benchmain.Start("failover")
//		defer r.Close()
//		...
//		r.Fatalf("...") // cleanups, then exit 1
//	}
package benchmain

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/machine"
	"github.com/shoal-dev/shoal/internal/proctest"
)

// Start prints the benchmark's header (its command line, the time and the
// machine) and returns the runner that holds its cleanups. SIGINT and
// SIGTERM run the cleanups and exit with status 130.
func Start(name string) *proctest.Runner {
	r := &proctest.Runner{}
	fmt.Printf("# bench/%s %s\n# %s\n", name, strings.Join(os.Args[1:], " "), time.Now().UTC().Format(time.RFC3339))
	for _, l := range strings.Split(strings.TrimSpace(machine.Describe()), "\n") {
		fmt.Printf("# %s\n", l)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench/%s: %v: cleaning up\n", name, s)
		r.Close()
		os.Exit(130)
	}()
	return r
}

// RaiseFileLimit lifts the limit on open files as far as it goes: every
// simulated node holds a connection, and so does the leader for each. As
// root the hard limit is raised to the kernel's fs.nr_open (1M here);
// otherwise the soft limit goes up to the hard one. Child processes (the
// managers) inherit it. It returns the soft limit in force.
func RaiseFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	want := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		var n uint64
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &n); err == nil && n > 0 {
			want = n
		}
	}
	if want > l.Max {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want
		}
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// Logf prints a progress line on stderr, with the time since start.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
