package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/agent/exec"
	"github.com/shoal-dev/shoal/dispatcher/protocol"
)

// session holds one session with the manager at addr until it fails or
// ctx ends. established says whether the manager accepted it.
func (a *Agent) session(ctx context.Context, addr string) (established bool, err error) {
	tr := protocol.NewTransport(a.cfg.TLS, a.cfg.DialTimeout)
	defer tr.CloseIdleConnections()
	client := &protocol.Client{HTTP: &http.Client{Transport: tr}, Addr: addr, NodeID: a.nodeID}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A manager that takes the connection but does not answer is as good
	// as down.
	openTimer := time.AfterFunc(a.cfg.DialTimeout, cancel)
	desc, engineErr := a.engineState()
	stream, err := client.OpenSession(ctx, protocol.SessionRequest{Description: desc, EngineError: engineErr})
	if err != nil {
		openTimer.Stop()
		return false, err
	}
	defer stream.Close()
	first, err := stream.Next()
	openTimer.Stop()
	if err != nil {
		return false, fmt.Errorf("agent: reading the session's first message: %w", err)
	}
	if first.Type != protocol.MessageSession || first.Session == nil {
		return false, fmt.Errorf("agent: session starts with a %q message", first.Type)
	}
	sessionID := first.Session.ID
	log := a.log.With("session", sessionID, "manager", addr)
	log.Info("session opened", "heartbeat_period", first.Session.HeartbeatPeriod)
	a.sessionChanged(nil)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.heartbeats(ctx, client, sessionID, first.Session.HeartbeatPeriod)
		cancel()
	}()
	go func() {
		defer wg.Done()
		a.reporter.run(ctx, client, sessionID)
	}()
	defer wg.Wait()
	defer cancel()

	fullSets := 0
	for {
		msg, err := stream.Next()
		if err != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("agent: session stream ended: %w", err)
			} else {
				err = errors.New("agent: session ended: a heartbeat failed, or the agent is stopping")
			}
			log.Info("session closed", "err", err)
			return true, err
		}
		switch msg.Type {
		case protocol.MessageManagers:
			if err := a.managers.update(msg.Managers); err != nil {
				log.Warn("saving the managers failed", "err", err)
			}
			if a.cfg.OnManagers != nil {
				a.cfg.OnManagers(msg.Managers)
			}
		case protocol.MessageGossip:
			if a.cfg.OnGossip != nil && len(msg.GossipKeys) > 0 {
				a.cfg.OnGossip(msg.GossipKeys)
			}
		case protocol.MessageNode:
			a.nodeMu.Lock()
			a.node = msg.Node
			a.nodeMu.Unlock()
			if a.cfg.OnNode != nil && msg.Node != nil {
				a.cfg.OnNode(*msg.Node)
			}
		case protocol.MessageAssignments:
			if msg.Assignments == nil {
				continue
			}
			a.assign(msg.Assignments)
			if msg.Assignments.Full {
				fullSets++
				log.Info("assignments", "tasks", len(msg.Assignments.Tasks), "full_sets", fullSets)
				a.requestCleanup()
			}
		case protocol.MessageSecrets:
			if msg.Secrets != nil {
				a.resMu.Lock()
				a.secrets = msg.Secrets
				a.resMu.Unlock()
				if a.cfg.OnSecrets != nil {
					a.cfg.OnSecrets(msg.Secrets)
				}
				if ru, ok := a.cfg.Executor.(exec.ResourceUser); ok {
					ru.SetSecrets(msg.Secrets)
				}
				// IDs only: secret data is never logged.
				log.Debug("secrets", "secrets", len(msg.Secrets.Secrets), "configs", len(msg.Secrets.Configs))
			}
		case protocol.MessageNetworks:
			if msg.Networks != nil {
				a.resMu.Lock()
				a.networks = msg.Networks
				a.resMu.Unlock()
				if ru, ok := a.cfg.Executor.(exec.ResourceUser); ok {
					ru.SetNetworks(msg.Networks)
				}
				log.Debug("networks", "networks", len(msg.Networks.Networks))
			}
		case protocol.MessageLogs:
			if msg.Logs != nil {
				a.serveLogs(ctx, client, *msg.Logs)
			}
		default:
			log.Debug("ignoring unknown session message", "type", msg.Type)
		}
	}
}

// heartbeats sends heartbeats at the manager's period, and at once when
// the engine's state changes, until one fails or ctx ends.
func (a *Agent) heartbeats(ctx context.Context, client *protocol.Client, sessionID string, period time.Duration) {
	if period <= 0 {
		period = time.Second
	}
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-a.engineChanged:
		}
		_, engineErr := a.engineState()
		hctx, cancel := context.WithTimeout(ctx, max(2*period, time.Second))
		resp, err := client.Heartbeat(hctx, protocol.HeartbeatRequest{SessionID: sessionID, EngineError: engineErr})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("heartbeat failed; ending the session", "session", sessionID, "err", err)
			}
			return
		}
		if resp.Period > 0 {
			period = resp.Period
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(period)
	}
}
