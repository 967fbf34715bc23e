package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// certificateAuthority is the lab's CA: it signs the API server's serving
// certificate and the client certificates of kubelets, kube-proxies and the
// API server's kubelet client. Everything is written under one directory.
type certificateAuthority struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newCertificateAuthority creates a fresh CA valid for a day and writes
// ca.crt into dir.
func newCertificateAuthority(dir string) (*certificateAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ironlb-lab-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &certificateAuthority{dir: dir, cert: cert, key: key}
	return ca, os.WriteFile(ca.certPath(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// certPath is the CA certificate's file.
func (ca *certificateAuthority) certPath() string { return filepath.Join(ca.dir, "ca.crt") }

// certRequest describes one certificate the CA issues.
type certRequest struct {
	name         string // files <name>.crt and <name>.key
	commonName   string
	organization []string
	ips          []net.IP
	dnsNames     []string
	server       bool
}

// issue signs a certificate for req and writes it with its key; it returns
// the certificate's and the key's paths.
func (ca *certificateAuthority) issue(req certRequest) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return "", "", err
	}
	usage := x509.ExtKeyUsageClientAuth
	if req.server {
		usage = x509.ExtKeyUsageServerAuth
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.commonName, Organization: req.organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  req.ips,
		DNSNames:     req.dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", fmt.Errorf("issue certificate %s: %w", req.name, err)
	}
	private, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPath = filepath.Join(ca.dir, req.name+".crt")
	keyPath = filepath.Join(ca.dir, req.name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: private}), 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// clientKubeconfig issues a client certificate for user (CN) in groups (O),
// stored as name.crt and name.key, and writes a kubeconfig at path that uses
// it against server, trusting the CA.
func (ca *certificateAuthority) clientKubeconfig(name, path, server, user string, groups ...string) error {
	certPath, keyPath, err := ca.issue(certRequest{name: name, commonName: user, organization: groups})
	if err != nil {
		return err
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: ca.certPath()}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: certPath, ClientKey: keyPath}
	config.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: user}
	config.CurrentContext = "lab"
	return clientcmd.WriteToFile(*config, path)
}
