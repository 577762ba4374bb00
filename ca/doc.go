// Package ca is the cluster's certificate authority: the root certificate,
// join tokens, node certificates, the mutual TLS configurations every
// connection between nodes uses, and the node's credentials on disk.
//
// # What it protects
//
// Every node proves who it is with a certificate issued by the cluster root:
// CN = node ID, OU = role ("swarm-manager" or "swarm-worker"), O = cluster
// ID. The root key lives only in the managers' (encrypted) Raft store. A
// node without a certificate can do one thing: present a join token to a
// manager's CA endpoint and get one. The token carries the digest of the
// root certificate, so the joining node can authenticate the manager
// before it sends the token's secret, and a secret that the manager
// compares in constant time.
//
// # Creating a cluster (manager init)
//
//	root, _ := ca.CreateRootCA()
//	workerTok, _ := ca.GenerateJoinToken(root)
//	managerTok, _ := ca.GenerateJoinToken(root)
//	keyPEM, _ := root.KeyPEM()
//	// store root.CertPEM(), keyPEM, root.DigestHex(), workerTok.String(),
//	// managerTok.String() in model.Cluster.RootCA; then issue the first
//	// manager's own certificate like any other (below).
//
// # Joining (node side), in this order
//
//  1. tok, err := ca.ParseJoinToken(userInput): refuse bad input before
//     dialling.
//  2. Dial a manager with ca.InsecureBootstrapTLSConfig() and fetch the
//     root certificate PEM, sending nothing else.
//  3. root, err := ca.FetchAndVerifyRoot(pem, tok): refuses a root that
//     does not match the token (ca.ErrRootCAMismatch).
//  4. key, _ := ca.GenerateKey(); csr, _ := ca.NewCSR(key).
//  5. Dial again with ca.ClientTLSConfig(nil, root): the server is now
//     authenticated as a manager of this root. Send csr and tok.String().
//  6. Save the certificate returned, ca.MarshalKeyPEM(key) and
//     root.CertPEM() with ca.SaveNodeCredentials(stateDir, ...).
//
// Join does steps 2 to 5 once; JoinWithRetry retries what may pass (an
// unreachable or unready manager, a 429) with backoff, logging each
// attempt, until its timeout, and fails at once on what cannot.
//
// # Issuing (manager side)
//
//	root, _ := ca.NewRootCA(cluster.RootCA.CACert, cluster.RootCA.CAKey)
//	role, err := ca.CheckJoinToken(presented, root, cluster.RootCA.JoinTokens)
//	certPEM, err := root.IssueNodeCertificate(csrPEM, model.NewID(), role,
//	        cluster.ID, cluster.Spec.CAConfig.NodeCertExpiry)
//
// Package ca/caserver does this on the cluster port (Join, Renew and
// Rejoin are its clients here); it is a separate package because it reads
// the store, which nodes that only join must not link. The role and node
// ID come from the token and the store, never from the CSR, whose subject
// is ignored; the server holds back a source whose token or certificate
// it refused (429 with Retry-After, see caserver.BackoffConfig). Renewals
// are issued the same way, with the node ID and role taken from the
// caller's verified identity and the store.
//
// # Connections
//
// Managers listen with ServerTLSConfig(cert, root, WithRevocation(f)), where
// f reports nodes listed in model.Cluster.RemovedNodes; handlers call
// PeerIdentity(conn.ConnectionState()) and enforce roles (a peer without a
// certificate may only use the CA endpoints). Nodes dial managers with
// ClientTLSConfig(&cert, root), which checks the server chains to the root
// and is a manager, without host name checks: nodes dial by IP address.
//
// # Renewal and restart
//
// On start a node calls LoadNodeCredentials (ErrCredentialsNotFound means
// it has not joined), renews at once if NeedsRenewal, and otherwise sleeps
// until RenewalTime (a random point between 50% and 80% of the
// certificate's life) before sending a new CSR over its mutual TLS
// connection. Saving the new credentials and building new TLS
// configurations is the caller's job.
//
// Everything in this package is safe for concurrent use; RootCA is
// immutable.
package ca
