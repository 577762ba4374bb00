package raft

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/encryption"
	bbolt "go.etcd.io/bbolt"
)

// ErrDamaged is matched (errors.Is) by every DamagedError.
var ErrDamaged = errors.New("raft: damaged state")

// DamagedError reports Raft state on disk that cannot be trusted: a log
// database that bbolt cannot read or check, a log with missing or
// unreadable entries, a snapshot that fails its checksum, or less state
// than the node had applied before. New refuses to start with it: a node
// that comes back with less than it acknowledged could vote for a
// leader that lacks committed writes, and an empty one would serve an
// empty cluster.
type DamagedError struct {
	// Path is the damaged file or directory.
	Path string
	// Problem says what is wrong with it.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("damaged Raft state: %s: %s", e.Path, e.Problem)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *DamagedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

const (
	// logFile is the bbolt database of the log and stable store.
	logFile = "raft.db"
	// appliedFile records the highest index this node has applied (and
	// the term it knew then). A node whose log and snapshots end before
	// it is damaged: it lost entries it had committed.
	appliedFile = "applied.json"
	// boltOpenTimeout bounds the wait for bbolt's own file lock, so that
	// a second process never blocks on it for good (the data dir lock of
	// package node is taken first; this is a second line).
	boltOpenTimeout = 2 * time.Second
)

// appliedMarker is the content of appliedFile.
type appliedMarker struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

func readMarker(dir string) (appliedMarker, error) {
	var m appliedMarker
	path := filepath.Join(dir, appliedFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("raft: reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, &DamagedError{Path: path, Problem: "unreadable", Err: err}
	}
	return m, nil
}

// writeMarker replaces appliedFile atomically and durably.
func writeMarker(dir string, m appliedMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+appliedFile+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, appliedFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// boltHighWater reads bbolt's meta pages (page 0 and page 1) and
// returns how far the pages of the newest valid one reach, in bytes, so
// that a truncated file is named as such (bbolt itself panics on the
// freelist page past the end, or faults). ok is false if neither meta page
// is recognisable; bbolt's own open then reports it. Layout of a meta page
// (bbolt 1.3, page.go and db.go): a 16-byte page header, then magic,
// version, page size, flags (4 bytes each), the root bucket (16 bytes),
// the freelist page, the high-water page ID and the transaction ID (8
// bytes each), in the machine's byte order (little-endian here).
func boltHighWater(path string) (reach int64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	const boltMagic = 0xED0CDAED
	var buf [80]byte
	read := func(off int64) (pageSize uint32, pgid, txid uint64, valid bool) {
		if n, err := f.ReadAt(buf[:], off); err != nil || n != len(buf) {
			return 0, 0, 0, false
		}
		le := binary.LittleEndian
		if le.Uint32(buf[16:]) != boltMagic {
			return 0, 0, 0, false
		}
		return le.Uint32(buf[24:]), le.Uint64(buf[56:]), le.Uint64(buf[64:]), true
	}
	ps0, pg0, tx0, ok0 := read(0)
	size := int64(os.Getpagesize())
	if ok0 && ps0 > 0 {
		size = int64(ps0)
	}
	ps1, pg1, tx1, ok1 := read(size)
	switch {
	case ok0 && (!ok1 || tx0 >= tx1):
		return int64(pg0) * int64(ps0), true
	case ok1:
		return int64(pg1) * int64(ps1), true
	}
	return 0, false
}

// safely runs f, turning a panic, or a fault on a memory-mapped page
// (SIGBUS on a file shorter than bbolt believes), into a DamagedError of
// path. bbolt panics on pages it cannot parse ("invalid freelist page",
// "slice bounds out of range").
func safely(path string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Problem: fmt.Sprintf("reading it failed: %v", r)}
		}
	}()
	return f()
}

// checkLogFile checks the bbolt file of the log before the store opens
// it: a missing or empty file is fresh state, and damaged if the node
// had applied entries; otherwise bbolt must open it, every page of it must
// be within the file, every key and value must be readable, and bbolt's
// consistency check must pass.
func checkLogFile(path string, had appliedMarker) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if had.Index > 0 {
			return &DamagedError{Path: path, Problem: fmt.Sprintf("missing, but this node had applied the log up to index %d (term %d)", had.Index, had.Term)}
		}
		return nil
	case err != nil:
		return fmt.Errorf("raft: %w", err)
	case fi.Size() == 0:
		if had.Index > 0 {
			return &DamagedError{Path: path, Problem: fmt.Sprintf("empty (0 bytes), but this node had applied the log up to index %d (term %d)", had.Index, had.Term)}
		}
		return nil
	}
	if reach, ok := boltHighWater(path); ok && reach > fi.Size() {
		return &DamagedError{Path: path, Problem: fmt.Sprintf("truncated: the file has %d bytes, its pages reach %d", fi.Size(), reach)}
	}
	return safely(path, func() error {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: boltOpenTimeout})
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("raft: %s is locked by another process", path)
		}
		if err != nil {
			return &DamagedError{Path: path, Problem: "bbolt cannot open it", Err: err}
		}
		defer db.Close()
		return db.View(func(tx *bbolt.Tx) error {
			if tx.Size() > fi.Size() {
				return &DamagedError{Path: path, Problem: fmt.Sprintf("truncated: the file has %d bytes, its pages reach %d", fi.Size(), tx.Size())}
			}
			// Read every page this process will read, here, where a bad
			// one panics into an error. bbolt's Check runs in a goroutine
			// of its own, where a panic would kill the process.
			var sum uint32
			var walk func(b *bbolt.Bucket) error
			walk = func(b *bbolt.Bucket) error {
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if v == nil {
						if sub := b.Bucket(k); sub != nil {
							if err := walk(sub); err != nil {
								return err
							}
						}
						continue
					}
					sum = crc32.Update(sum, crc32.IEEETable, v)
				}
				return nil
			}
			if err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b) }); err != nil {
				return &DamagedError{Path: path, Problem: "reading it failed", Err: err}
			}
			var problems []string
			for err := range tx.Check() {
				if len(problems) < 5 {
					problems = append(problems, err.Error())
				}
			}
			if len(problems) > 0 {
				return &DamagedError{Path: path, Problem: "bbolt's consistency check failed: " + strings.Join(problems, "; ")}
			}
			return nil
		})
	})
}

// verifyState checks what the opened stores hold against what the node
// knows it had: every snapshot's metadata is readable and the newest
// passes its checksum (or decrypts: it is authenticated), the log
// continues the newest snapshot without a gap, every entry of the log
// reads back (and decrypts), and log and snapshot reach the index the
// node had applied.
func verifyState(dir string, logs hraft.LogStore, snaps hraft.SnapshotStore, had appliedMarker) error {
	snapDir := filepath.Join(dir, "snapshots")
	entries, err := os.ReadDir(snapDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &DamagedError{Path: snapDir, Problem: "unreadable", Err: err}
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue // a snapshot being written when the node stopped
		}
		metaPath := filepath.Join(snapDir, e.Name(), "meta.json")
		b, err := os.ReadFile(metaPath)
		if err != nil {
			return &DamagedError{Path: metaPath, Problem: "unreadable", Err: err}
		}
		var meta hraft.SnapshotMeta
		if err := json.Unmarshal(b, &meta); err != nil {
			return &DamagedError{Path: metaPath, Problem: "unreadable", Err: err}
		}
		if _, err := os.Stat(filepath.Join(snapDir, e.Name(), "state.bin")); err != nil {
			return &DamagedError{Path: filepath.Join(snapDir, e.Name(), "state.bin"), Problem: "missing", Err: err}
		}
	}
	metas, err := snaps.List()
	if err != nil {
		return &DamagedError{Path: snapDir, Problem: "listing the snapshots failed", Err: err}
	}
	var snapIndex uint64
	if len(metas) > 0 {
		newest := metas[0]
		_, rc, err := snaps.Open(newest.ID)
		if err != nil {
			return &DamagedError{Path: filepath.Join(snapDir, newest.ID), Problem: "the newest snapshot does not read back", Err: err}
		}
		rc.Close()
		snapIndex = newest.Index
	}
	dbPath := filepath.Join(dir, logFile)
	first, err := logs.FirstIndex()
	if err != nil {
		return &DamagedError{Path: dbPath, Problem: "reading the first index failed", Err: err}
	}
	last, err := logs.LastIndex()
	if err != nil {
		return &DamagedError{Path: dbPath, Problem: "reading the last index failed", Err: err}
	}
	if last > 0 && first > snapIndex+1 {
		return &DamagedError{Path: dbPath, Problem: fmt.Sprintf("the log starts at index %d but the newest snapshot ends at index %d: entries %d to %d are missing",
			first, snapIndex, snapIndex+1, first-1)}
	}
	if have := max(last, snapIndex); have < had.Index {
		return &DamagedError{Path: dbPath, Problem: fmt.Sprintf("the log and snapshots end at index %d, but this node had applied the log up to index %d (term %d)",
			have, had.Index, had.Term)}
	}
	if last == 0 {
		return nil
	}
	var l hraft.Log
	for i := first; i <= last; i++ {
		if err := logs.GetLog(i, &l); err != nil {
			if errors.Is(err, encryption.ErrWrongKey) {
				return fmt.Errorf("raft: %s: log entry %d is encrypted with another data key than this node's: %w", dbPath, i, err)
			}
			if i <= snapIndex && errors.Is(err, hraft.ErrLogNotFound) {
				// A follower that installs a leader's snapshot keeps up to
				// TrailingLogs of its older entries and appends the next
				// entries after the snapshot's index: the log has a gap
				// that the snapshot covers (robustness seed 421339016140).
				continue
			}
			return &DamagedError{Path: dbPath, Problem: fmt.Sprintf("log entry %d does not read back", i), Err: err}
		}
		if l.Index != i {
			return &DamagedError{Path: dbPath, Problem: fmt.Sprintf("log entry %d holds index %d", i, l.Index)}
		}
	}
	return nil
}

// markerInterval is how often a node records its applied index. A log
// that loses less than the last interval's entries is not caught by the
// marker (bbolt's checks still catch a damaged file); a shorter interval
// costs an fsync more often.
const markerInterval = time.Second

// recordApplied records the applied index every markerInterval while the
// node runs.
func (n *Node) recordApplied() {
	defer n.wg.Done()
	t := time.NewTicker(markerInterval)
	defer t.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-t.C:
			n.saveApplied()
		}
	}
}

// saveApplied writes the applied index to appliedFile if it moved. An
// applied entry is in the log (or a snapshot) on this node's disk, so the
// marker never claims more than the disk held. A failed write (a full
// disk) is logged once and retried at the next tick.
func (n *Node) saveApplied() {
	n.markerMu.Lock()
	defer n.markerMu.Unlock()
	idx := n.raft.AppliedIndex()
	if idx <= n.applied.Index {
		return
	}
	m := appliedMarker{Index: idx, Term: n.raft.CurrentTerm()}
	if err := writeMarker(n.cfg.DataDir, m); err != nil {
		if !n.markerFailing {
			n.log.Warn("recording the applied index failed; retrying", "err", err)
		}
		n.markerFailing = true
		return
	}
	if n.markerFailing {
		n.log.Info("recording the applied index works again", "index", idx)
	}
	n.markerFailing = false
	n.applied = m
}
