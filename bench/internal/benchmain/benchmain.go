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

// Logf prints a progress line on stderr, with the time since start.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
