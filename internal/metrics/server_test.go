package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// startServer serves opts on a loopback port and returns its address; the
// server stops when the test ends.
func startServer(t *testing.T, opts ServerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return ln.Addr().String()
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServerEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewK8sClient(reg).ConfigBuilt(nil)
	var ready, stuck atomic.Bool
	addr := startServer(t, ServerOptions{Gatherer: reg, Healthy: func() error {
		if stuck.Load() {
			return errors.New("main loop stuck")
		}
		return nil
	}, Ready: func() error {
		if !ready.Load() {
			return errors.New("configuration not loaded yet")
		}
		return nil
	}})
	base := "http://" + addr

	code, body := get(t, http.DefaultClient, base+"/metrics")
	if code != 200 || !strings.Contains(body, "metallb_k8s_client_config_loaded_bool 1") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	if code, body := get(t, http.DefaultClient, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, http.DefaultClient, base+"/readyz"); code != 503 || !strings.Contains(body, "configuration not loaded yet") {
		t.Errorf("/readyz before ready = %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get(t, http.DefaultClient, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d", code)
	}
	stuck.Store(true)
	if code, body := get(t, http.DefaultClient, base+"/healthz"); code != 503 || !strings.Contains(body, "unhealthy: main loop stuck") {
		t.Errorf("/healthz when stuck = %d %q", code, body)
	}
}

// writeKeyPair writes a self-signed certificate for 127.0.0.1 named cn and
// returns it.
func writeKeyPair(t *testing.T, certFile, keyFile, cn string, mtime time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestServerTLSReloadsRotatedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeKeyPair(t, certFile, keyFile, "first", time.Now().Add(-time.Minute))
	addr := startServer(t, ServerOptions{Gatherer: prometheus.NewRegistry(), CertFile: certFile, KeyFile: keyFile})

	servedName := func(trusted *x509.Certificate) string {
		pool := x509.NewCertPool()
		pool.AddCert(trusted)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer client.CloseIdleConnections()
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := servedName(first); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	second := writeKeyPair(t, certFile, keyFile, "second", time.Now())
	if got := servedName(second); got != "second" {
		t.Fatalf("after rotation served %q, want second", got)
	}
}

func TestServerTLSOptionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = ServeListener(context.Background(), ln, ServerOptions{CertFile: "only-cert.pem"})
	if err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("cert without key: err = %v", err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = ServeListener(context.Background(), ln, ServerOptions{CertFile: filepath.Join(dir, "missing.crt"), KeyFile: filepath.Join(dir, "missing.key")})
	if err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("missing files: err = %v", err)
	}
	if err := Serve(context.Background(), ServerOptions{Addr: "127.0.0.1:bad"}); err == nil {
		t.Error("bad address accepted")
	}
}
