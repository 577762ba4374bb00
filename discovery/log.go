package discovery

import (
	"context"
	"log/slog"
	"strings"
)

// logBridge turns memberlist's log lines ("[LEVEL] memberlist: text") into
// slog records, and watches the few lines that carry state memberlist does
// not otherwise expose: this node's own suspicions and refutations.
type logBridge struct{ g *Gossip }

const (
	suspectPrefix = "Suspect "
	suspectSuffix = " has failed, no acks received"
)

func (b *logBridge) Write(p []byte) (int, error) {
	level, msg := parseLogLine(string(p))
	switch {
	case strings.HasPrefix(msg, suspectPrefix) && strings.HasSuffix(msg, suspectSuffix):
		b.g.suspect(strings.TrimSuffix(strings.TrimPrefix(msg, suspectPrefix), suspectSuffix))
	case strings.HasPrefix(msg, "Refuting a suspect message"), strings.HasPrefix(msg, "Refuting a dead message"):
		b.g.refutations.Add(1)
	}
	b.g.log.Log(context.Background(), level, msg, "source", "memberlist")
	return len(p), nil
}

// parseLogLine splits a memberlist log line into a level and a message.
func parseLogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelInfo
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			switch line[1:end] {
			case "DEBUG", "TRACE":
				level = slog.LevelDebug
			case "INFO":
				level = slog.LevelInfo
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			line = strings.TrimSpace(line[end+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}
