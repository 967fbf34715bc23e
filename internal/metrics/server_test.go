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

// An endpoint with Authorize speaks TLS with a self-signed certificate when
// no files are given, guards /metrics, and leaves the probes open.
func TestServerAuthorizedEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewK8sClient(reg).ConfigBuilt(nil)
	onlyGood := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer good" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	addr := startServer(t, ServerOptions{Gatherer: reg, Authorize: onlyGood})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	base := "https://" + addr

	if code, body := get(t, http.DefaultClient, "http://"+addr+"/metrics"); code != http.StatusBadRequest {
		t.Errorf("plain HTTP /metrics = %d %q, want 400 (TLS only)", code, body)
	}
	if code, _ := get(t, client, base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token = %d, want 401", code)
	}
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer good")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "metallb_k8s_client_config_loaded_bool 1") {
		t.Errorf("/metrics with the token = %d %q", resp.StatusCode, body)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, client, base+probe); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s without a token = %d %q, want 200", probe, code, body)
		}
	}
}

// ServeEach serves each endpoint with an address and returns at once the
// error of one that cannot listen.
func TestServeEach(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = ServeEach(ctx, ServerOptions{Addr: ""}, ServerOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()},
		ServerOptions{Addr: busy.Addr().String(), Gatherer: prometheus.NewRegistry()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("ServeEach with a busy port = %v", err)
	}
	cancel()
	if err := ServeEach(ctx, ServerOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()}); err != nil {
		t.Errorf("ServeEach stopped by its context = %v", err)
	}
}
