package raft

import (
	"bytes"
	"context"
	"log/slog"

	hclog "github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger, which hashicorp/raft requires, that
// passes each line on to l at the matching slog level.
func newHCLogger(l *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        name,
		Level:       hclog.Info,
		Output:      &slogWriter{l: l.With("component", name)},
		DisableTime: true,
	})
}

// slogWriter receives hclog's formatted lines: "[LEVEL] name: message: k=v".
type slogWriter struct {
	l *slog.Logger
}

var hclogLevels = []struct {
	tag   []byte
	level slog.Level
}{
	{[]byte("[ERROR]"), slog.LevelError},
	{[]byte("[WARN]"), slog.LevelWarn},
	{[]byte("[INFO]"), slog.LevelInfo},
	{[]byte("[DEBUG]"), slog.LevelDebug},
	{[]byte("[TRACE]"), slog.LevelDebug - 4},
}

func (w *slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lv := range hclogLevels {
		if bytes.HasPrefix(line, lv.tag) {
			level = lv.level
			line = bytes.TrimSpace(line[len(lv.tag):])
			break
		}
	}
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
