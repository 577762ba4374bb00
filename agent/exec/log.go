package exec

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// WithLogger returns a context whose Do calls (and executors that honour
// it) log to l. Tests pass a logger writing to t.Log.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the context's logger, or slog.Default with the component
// field.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default().With("component", "exec")
}
