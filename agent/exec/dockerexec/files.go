package dockerexec

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/docker/docker/api/types/mount"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
	"github.com/shoal-dev/shoal/model"
)

// Where secrets and configs appear in a container when their reference
// names no absolute path: Docker's defaults.
const (
	SecretsDir = "/run/secrets"
	ConfigsDir = "/"
)

// filesComplete marks a task's files as all written: a tmpfs without it
// was left half-made by an agent that died, and is made again.
const filesComplete = ".complete"

// SetSecrets keeps the secrets and configs the node's tasks reference, in
// memory only.
func (e *Executor) SetSecrets(s *protocol.Secrets) {
	secrets := map[string]*model.Secret{}
	configs := map[string]*model.Config{}
	if s != nil {
		for _, x := range s.Secrets {
			secrets[x.ID] = x
		}
		for _, x := range s.Configs {
			configs[x.ID] = x
		}
	}
	e.resMu.Lock()
	e.secrets, e.configs = secrets, configs
	e.resMu.Unlock()
}

// SetNetworks passes the node's network view to the overlay plane, then
// to the watchers (WithViewWatcher), and keeps it for draining tasks that
// stop.
func (e *Executor) SetNetworks(v *protocol.NetworkView) {
	if e.plane != nil {
		e.plane.SetView(v)
	}
	for _, f := range e.watchers {
		f(v)
	}
	e.setView(v)
}

// taskFile is one secret or config file of a task.
type taskFile struct {
	// Target is the path in the container.
	Target string
	File   model.FileTarget
	data   []byte
	what   string // "secret NAME" or "config NAME", for errors
}

// fileTarget is where a reference's file appears in the container.
func fileTarget(dir, name string) string {
	if path.IsAbs(name) {
		return path.Clean(name)
	}
	return path.Join(dir, name)
}

// checkFileRefs refuses references no node can honour: no file name, a
// path that escapes, a bad uid or gid. It reads no data.
func checkFileRefs(t *model.Task) error {
	check := func(what string, f model.FileTarget) error {
		switch {
		case f.Name == "":
			return fmt.Errorf("%w: %s has no file name", exec.ErrInvalidTask, what)
		case f.UID != "" && !isID(f.UID), f.GID != "" && !isID(f.GID):
			return fmt.Errorf("%w: %s: uid %q and gid %q must be numbers", exec.ErrInvalidTask, what, f.UID, f.GID)
		case f.Mode&^os.ModePerm != 0:
			return fmt.Errorf("%w: %s: mode %v is not a file permission", exec.ErrInvalidTask, what, f.Mode)
		}
		return nil
	}
	for _, s := range t.Spec.Container.Secrets {
		if err := check("secret "+s.SecretName, s.File); err != nil {
			return err
		}
	}
	for _, c := range t.Spec.Container.Configs {
		if err := check("config "+c.ConfigName, c.File); err != nil {
			return err
		}
	}
	return nil
}

func isID(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// taskFiles gathers the task's files from what the manager sent; a
// secret or config not received yet is a temporary error.
func (e *Executor) taskFiles(t *model.Task) ([]taskFile, error) {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	var out []taskFile
	for _, r := range t.Spec.Container.Secrets {
		s, ok := e.secrets[r.SecretID]
		if !ok {
			return nil, exec.MakeTemporary(fmt.Errorf("dockerexec: secret %s (%s) not received from the manager yet", r.SecretName, r.SecretID))
		}
		out = append(out, taskFile{Target: fileTarget(SecretsDir, r.File.Name), File: r.File, data: s.Spec.Data, what: "secret " + r.SecretName})
	}
	for _, r := range t.Spec.Container.Configs {
		c, ok := e.configs[r.ConfigID]
		if !ok {
			return nil, exec.MakeTemporary(fmt.Errorf("dockerexec: config %s (%s) not received from the manager yet", r.ConfigName, r.ConfigID))
		}
		out = append(out, taskFile{Target: fileTarget(ConfigsDir, r.File.Name), File: r.File, data: c.Spec.Data, what: "config " + r.ConfigName})
	}
	return out, nil
}

// filesDir is the task's tmpfs.
func (e *Executor) filesDir(taskID string) string {
	return filepath.Join(e.runDir, "tasks", taskID)
}

// mountFiles makes the task's secret and config files on a tmpfs of its
// own (nodev, nosuid, noexec, mode 0700, read-only once written) and
// returns the read-only bind mounts that put them in the container. It is
// idempotent: a complete tmpfs is used as it is. Nothing is written
// outside the tmpfs, and no data is logged.
func (e *Executor) mountFiles(t *model.Task) ([]mount.Mount, error) {
	if len(t.Spec.Container.Secrets)+len(t.Spec.Container.Configs) == 0 {
		return nil, nil
	}
	if e.runDir == "" {
		return nil, fmt.Errorf("%w: this node has no run directory for secrets and configs", exec.ErrInvalidTask)
	}
	files, err := e.taskFiles(t)
	if err != nil {
		return nil, err
	}
	dir := e.filesDir(t.ID)
	mounts := make([]mount.Mount, len(files))
	for i, f := range files {
		mounts[i] = mount.Mount{Type: mount.TypeBind, Source: filepath.Join(dir, strconv.Itoa(i)), Target: f.Target, ReadOnly: true}
	}
	if mounted(dir) {
		if _, err := os.Stat(filepath.Join(dir, filesComplete)); err == nil {
			return mounts, nil
		}
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return nil, fmt.Errorf("dockerexec: unmount half-made %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dockerexec: files of task %s: %w", t.ID, err)
	}
	size := 64 << 10 // inodes and the marker
	for _, f := range files {
		size += len(f.data) + 4096
	}
	const flags = syscall.MS_NODEV | syscall.MS_NOSUID | syscall.MS_NOEXEC
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "mode=0700,size="+strconv.Itoa(size)); err != nil {
		return nil, fmt.Errorf("dockerexec: tmpfs for the files of task %s: %w", t.ID, err)
	}
	fail := func(err error) ([]mount.Mount, error) {
		if uerr := syscall.Unmount(dir, syscall.MNT_DETACH); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return nil, err
	}
	for i, f := range files {
		if err := writeFile(filepath.Join(dir, strconv.Itoa(i)), f); err != nil {
			return fail(fmt.Errorf("dockerexec: task %s: %s: %w", t.ID, f.what, err))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, filesComplete), nil, 0o400); err != nil {
		return fail(fmt.Errorf("dockerexec: task %s: %w", t.ID, err))
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|flags, ""); err != nil {
		return fail(fmt.Errorf("dockerexec: remount the files of task %s read-only: %w", t.ID, err))
	}
	return mounts, nil
}

func writeFile(name string, f taskFile) error {
	mode := f.File.Mode.Perm()
	if f.File.Mode == 0 {
		mode = 0o444 // Docker's default
	}
	fd, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := fd.Write(f.data); err != nil {
		fd.Close()
		return err
	}
	if err := fd.Close(); err != nil {
		return err
	}
	uid, gid := 0, 0
	if f.File.UID != "" {
		uid, _ = strconv.Atoi(f.File.UID) // checked by checkFileRefs
	}
	if f.File.GID != "" {
		gid, _ = strconv.Atoi(f.File.GID)
	}
	if err := os.Chown(name, uid, gid); err != nil {
		return err
	}
	return os.Chmod(name, mode) // the umask applied to OpenFile's mode
}

// releaseFiles unmounts the task's tmpfs, if any, and removes its mount
// point. A running container keeps its own bind mounts of the files
// until it exits; the data is freed then.
func (e *Executor) releaseFiles(taskID string) error {
	if e.runDir == "" || taskID == "" {
		return nil
	}
	dir := e.filesDir(taskID)
	if mounted(dir) {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("dockerexec: unmount the files of task %s: %w", taskID, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dockerexec: files of task %s: %w", taskID, err)
	}
	return nil
}

// mounted tells whether dir is a mount point: on another device than its
// parent.
func mounted(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
