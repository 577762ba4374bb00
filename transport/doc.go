// Package transport serves everything a manager offers other nodes on one
// TCP port, the cluster port (2377 by default), behind mutual TLS.
//
// Each accepted connection completes its TLS handshake first; the protocol
// negotiated with ALPN then picks its handler:
//
//	"shoal-raft/1"      -> Raft's stream layer (manager certificates only)
//	"h2", "http/1.1"    -> the HTTP server: CA join endpoints, dispatcher
//	                       sessions, forwarded writes, log streams
//
// Clients without a certificate may complete the handshake (a joining node
// has none yet); every handler checks the caller's identity itself, and
// Raft connections are authorised before they reach Raft. A client that
// speaks plain HTTP to the port gets a readable 400 instead of a TLS alert;
// one that sends garbage is logged and dropped.
package transport
