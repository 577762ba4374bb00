package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SocketName is the name of the API socket in a manager's data directory.
const SocketName = "swarm.sock"

// ListenUnix listens on a unix socket at path that only its owner can use
// (mode 0600): whoever can connect controls the swarm. The socket is made
// in a private directory, restricted, then moved into place, so nobody
// can connect in between. A stale socket left by a crash is replaced; a
// socket another process still serves, or a file that is not a socket, is
// an error. Closing the listener removes the socket.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("api: %s is in use by another process", path)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".sock-")
	if err != nil {
		return nil, fmt.Errorf("api: listening on %s: %w", path, err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	tmp := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("api: listening on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("api: restricting %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("api: listening on %s: %w", path, err)
	}
	return &unixListener{UnixListener: l, path: path}, nil
}

// unixListener removes its socket when closed.
type unixListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if rmErr := os.Remove(l.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	})
	return err
}

// Addr reports the socket's final path.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// shutdownKey is the context key of the channel Serve closes when it
// shuts down, which ends log streams.
type shutdownKey struct{}

// ShutdownGrace is how long Serve lets requests in flight finish when its
// context ends. Writes take at most a Raft round trip, or fail after the
// leader wait; log streams are ended at once.
const ShutdownGrace = 5 * time.Second

// Serve serves the API on l until ctx ends or l fails, then shuts down:
// it stops accepting connections, ends log streams and lets other
// requests in flight finish for up to ShutdownGrace. It closes l. Serve
// may be called for several listeners (the unix socket, a TCP port with
// mutual TLS) on one Server.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := make(chan struct{})
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), shutdownKey{}, (<-chan struct{})(stop))
		},
	}
	var once sync.Once
	srv.RegisterOnShutdown(func() { once.Do(func() { close(stop) }) })
	s.log.Info("serving the Docker API", "addr", l.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		once.Do(func() { close(stop) })
		return fmt.Errorf("api: serving %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("api: shutting down %s: %w", l.Addr(), err)
	}
	return nil
}
