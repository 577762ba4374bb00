package raft

import hraft "github.com/hashicorp/raft"

// WrapLogStore makes nodes started with c wrap their log store with wrap,
// to inject disk faults.
func WrapLogStore(c *Config, wrap func(hraft.LogStore) hraft.LogStore) { c.wrapLogs = wrap }
