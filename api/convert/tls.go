package convert

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/docker/docker/api/types/swarm"
)

// tlsInfoFromPEM describes the trust root the way Docker does: the PEM
// itself, and the subject and public key of the certificate that issues
// node certificates, which for shoal is the root. The CLI compares these
// with a node's to show whether the node's certificate is current. A PEM
// that does not parse yields only the trust root.
func tlsInfoFromPEM(rootCA []byte) swarm.TLSInfo {
	if len(rootCA) == 0 {
		return swarm.TLSInfo{}
	}
	info := swarm.TLSInfo{TrustRoot: string(rootCA)}
	block, _ := pem.Decode(rootCA)
	if block == nil || block.Type != "CERTIFICATE" {
		return info
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return info
	}
	info.CertIssuerSubject = cert.RawSubject
	info.CertIssuerPublicKey = cert.RawSubjectPublicKeyInfo
	return info
}
