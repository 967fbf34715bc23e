package webhook

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// caCommonName names the CAs ironlb creates, so that a CA bundle can keep
// ironlb's previous CA while dropping anything else.
const caCommonName = "ironlb-webhook-ca"

// clockSkew backdates certificates so that an API server whose clock is
// behind the controller's still accepts them: by a day, or a quarter of the
// lifetime when that is shorter (so that a short lifetime, for tests, is not
// mostly in the past). A controller clock up to a day ahead, or any amount
// behind that is small against the lifetime (renewal comes after two thirds
// of it), never makes the API server refuse the webhook's certificate, and
// so never blocks configuration writes (failurePolicy: Fail). Issue 16 asks
// for ±2 h; that holds for every lifetime of 8 h or more.
const clockSkew = 24 * time.Hour

// backdating is how far a certificate valid for lifetime is backdated.
func backdating(lifetime time.Duration) time.Duration {
	return min(clockSkew, lifetime/4)
}

// KeyPair is the webhook's TLS material, PEM-encoded: a self-signed CA and a
// serving certificate it signed. The CA's private key is discarded once the
// serving certificate is signed: renewal issues a new CA too.
type KeyPair struct {
	CA   []byte
	Cert []byte
	Key  []byte
}

// DNSNames are the names the API server may use to reach the webhook
// Service.
func DNSNames(service, namespace string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}

// RenewAt is when a certificate is due for renewal: after two thirds of its
// lifetime.
func RenewAt(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(lifetime / 3 * 2)
}

// Generate issues a new CA and a serving certificate for hosts (DNS names,
// and IP addresses for an API server that calls the webhook by URL), valid
// from now (backdated a little) for lifetime.
func Generate(now time.Time, lifetime time.Duration, hosts []string) (KeyPair, error) {
	if len(hosts) == 0 {
		return KeyPair{}, errors.New("a certificate needs at least one host name")
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			ips = append(ips, ip.AsSlice())
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	notBefore, notAfter := now.Add(-backdating(lifetime)), now.Add(lifetime)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: caCommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return KeyPair{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return KeyPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, serving, ca, &key.PublicKey, caKey)
	if err != nil {
		return KeyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		CA:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Check reports when kp is due for renewal, or why it cannot serve hosts
// (DNS names or IP addresses) at now: missing or unparsable parts, a
// certificate its CA did not sign, missing names, or a renewal date that has
// passed.
func (kp KeyPair) Check(now time.Time, hosts []string) (renewAt time.Time, err error) {
	if len(kp.CA) == 0 || len(kp.Cert) == 0 || len(kp.Key) == 0 {
		return time.Time{}, errors.New("no certificate yet")
	}
	ca, err := parseCertificate(kp.CA)
	if err != nil {
		return time.Time{}, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := parseCertificate(kp.Cert)
	if err != nil {
		return time.Time{}, fmt.Errorf("serving certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range hosts {
		// DNSName also matches an IP address against the IP SANs.
		_, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now})
		if err != nil {
			return time.Time{}, fmt.Errorf("serving certificate does not verify for %s: %w", name, err)
		}
	}
	if _, err := tls.X509KeyPair(kp.Cert, kp.Key); err != nil {
		return time.Time{}, fmt.Errorf("serving key pair: %w", err)
	}
	renewAt = RenewAt(cert)
	if caRenew := RenewAt(ca); caRenew.Before(renewAt) {
		renewAt = caRenew
	}
	if !now.Before(renewAt) {
		return renewAt, fmt.Errorf("certificate due for renewal since %s", renewAt.UTC().Format(time.RFC3339))
	}
	return renewAt, nil
}

func parseCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// MergeBundle returns the CA bundle to trust: ca first, then the ironlb CAs
// of existing that have not expired at now, so that a serving certificate
// signed by the previous CA stays trusted while it is being replaced.
// Certificates that are not ironlb CAs are dropped.
func MergeBundle(ca, existing []byte, now time.Time) []byte {
	out := bytes.Clone(ca)
	seen := [][]byte{derOf(ca)}
	for rest := existing; len(rest) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !cert.IsCA || cert.Subject.CommonName != caCommonName || !now.Before(cert.NotAfter) {
			continue
		}
		if slices.ContainsFunc(seen, func(der []byte) bool { return bytes.Equal(der, block.Bytes) }) {
			continue
		}
		seen = append(seen, block.Bytes)
		out = append(out, pem.EncodeToMemory(block)...)
	}
	return out
}

func derOf(pemData []byte) []byte {
	if block, _ := pem.Decode(pemData); block != nil {
		return block.Bytes
	}
	return nil
}
