package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/shoal-dev/shoal/node"
)

// runID prints "DIR NODE_ID" for each data dir that holds a node; a dir
// without one is skipped (a node that never finished joining started no
// containers). It fails only on a dir whose node.json cannot be read.
func runID(dirs []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(dirs) == 0 {
		dirs = []string{dataDir(getenv)}
	}
	code := 0
	for _, d := range dirs {
		st, err := node.Load(d)
		switch {
		case errors.Is(err, node.ErrNoRecord):
			continue
		case err != nil:
			fmt.Fprintln(stderr, "shoal-node id:", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", d, st.NodeID)
	}
	return code
}
