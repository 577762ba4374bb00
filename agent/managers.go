package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// managersFile is the file in DataDir that keeps the managers sessions
// named.
const managersFile = "managers.json"

// managerList is the managers the agent may open sessions with, and which
// one it tries next.
type managerList struct {
	path    string
	initial []string

	mu    sync.Mutex
	addrs []string
	// named are the managers the last session named, with their IDs.
	named    []protocol.Manager
	i        int
	redirect string // tried next, once: where a 421 pointed
}

type managersState struct {
	Managers []protocol.Manager `json:"managers"`
}

// loadManagers returns the list: the persisted managers then the
// configured ones, starting at a random one.
func loadManagers(dataDir string, initial []string) (*managerList, error) {
	l := &managerList{path: filepath.Join(dataDir, managersFile), initial: initial}
	var saved managersState
	b, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("agent: reading %s: %w", l.path, err)
	default:
		if err := json.Unmarshal(b, &saved); err != nil {
			return nil, fmt.Errorf("agent: %s is corrupt: %w", l.path, err)
		}
	}
	l.set(saved.Managers)
	if len(l.addrs) == 0 {
		return nil, errors.New("agent: no manager address: configure at least one")
	}
	l.i = rand.IntN(len(l.addrs))
	return l, nil
}

// set makes the list the given managers followed by the configured
// addresses they do not include. Called with l.mu held or before use.
func (l *managerList) set(ms []protocol.Manager) {
	l.named = slices.Clone(ms)
	var addrs []string
	for _, m := range ms {
		if m.Addr != "" && !slices.Contains(addrs, m.Addr) {
			addrs = append(addrs, m.Addr)
		}
	}
	for _, a := range l.initial {
		if a != "" && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	l.addrs = addrs
}

// next returns the address to try now.
func (l *managerList) next() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.redirect != "" {
		a := l.redirect
		l.redirect = ""
		return a
	}
	return l.addrs[l.i%len(l.addrs)]
}

// advance moves on to the next manager of the list.
func (l *managerList) advance() {
	l.mu.Lock()
	l.i = (l.i + 1) % len(l.addrs)
	l.mu.Unlock()
}

// redirectTo makes addr the next address tried.
func (l *managerList) redirectTo(addr string) {
	l.mu.Lock()
	l.redirect = addr
	if i := slices.Index(l.addrs, addr); i >= 0 {
		l.i = i
	}
	l.mu.Unlock()
}

// update replaces the list with the managers a session named, keeping
// the current manager current, and saves it.
func (l *managerList) update(ms []protocol.Manager) error {
	l.mu.Lock()
	cur := l.addrs[l.i%len(l.addrs)]
	l.set(ms)
	l.i = max(slices.Index(l.addrs, cur), 0)
	l.mu.Unlock()
	b, err := json.MarshalIndent(managersState{Managers: ms}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path, b)
}

// known returns the managers the last session named or, before any, the
// configured addresses (without node IDs).
func (l *managerList) known() []protocol.Manager {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.named) > 0 {
		return slices.Clone(l.named)
	}
	out := make([]protocol.Manager, 0, len(l.addrs))
	for _, a := range l.addrs {
		out = append(out, protocol.Manager{Addr: a})
	}
	return out
}

func (l *managerList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.addrs)
}

// writeFileAtomic replaces path with data through a synced temporary file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}
