package webhook

import (
	"bytes"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names = DNSNames(DefaultServiceName, namespace)
)

func TestDNSNames(t *testing.T) {
	want := "metallb-webhook-service metallb-webhook-service.metallb-system metallb-webhook-service.metallb-system.svc metallb-webhook-service.metallb-system.svc.cluster.local"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("DNSNames = %s", got)
	}
}

func TestGenerateAndCheck(t *testing.T) {
	kp, err := Generate(t0, DefaultLifetime, names)
	if err != nil {
		t.Fatal(err)
	}
	renewAt, err := kp.Check(t0, names)
	if err != nil {
		t.Fatalf("fresh key pair: %v", err)
	}
	// Two thirds of the lifetime, counted from the backdated start.
	want := t0.Add(-clockSkew).Add((DefaultLifetime + clockSkew) / 3 * 2)
	if d := renewAt.Sub(want); d < -time.Second || d > time.Second {
		t.Errorf("renewAt = %s, want %s", renewAt, want)
	}
	for _, tc := range []struct {
		name    string
		kp      KeyPair
		now     time.Time
		names   []string
		wantErr string
	}{
		{"fresh", kp, t0.Add(time.Hour), names, ""},
		{"clock slightly behind", kp, t0.Add(-30 * time.Minute), names, ""},
		{"empty", KeyPair{}, t0, names, "no certificate yet"},
		{"garbage CA", KeyPair{CA: []byte("x"), Cert: kp.Cert, Key: kp.Key}, t0, names, "CA certificate: not a PEM certificate"},
		{"garbage cert", KeyPair{CA: kp.CA, Cert: []byte("x"), Key: kp.Key}, t0, names, "serving certificate: not a PEM certificate"},
		{"other service", kp, t0, DNSNames("other", namespace), "does not verify for other"},
		{"due for renewal", kp, renewAt, names, "due for renewal"},
		{"expired", kp, t0.Add(DefaultLifetime + time.Hour), names, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.kp.Check(tc.now, tc.names)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Check error = %v, want %q", err, tc.wantErr)
			}
		})
	}

	other, err := Generate(t0, DefaultLifetime, names)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (KeyPair{CA: other.CA, Cert: kp.Cert, Key: kp.Key}).Check(t0, names); err == nil {
		t.Error("certificate accepted under a CA that did not sign it")
	}
	if _, err := (KeyPair{CA: kp.CA, Cert: kp.Cert, Key: other.Key}).Check(t0, names); err == nil || !strings.Contains(err.Error(), "key pair") {
		t.Errorf("mismatched key: %v", err)
	}
}

// TestCertificateForAnAddress: a certificate for an API server that calls
// the webhook by URL carries the address as an IP SAN and verifies for it.
func TestCertificateForAnAddress(t *testing.T) {
	hosts := append(slices.Clone(names), "172.30.0.1", "fd00:30::1")
	kp, err := Generate(t0, DefaultLifetime, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kp.Check(t0, hosts); err != nil {
		t.Fatalf("Check: %v", err)
	}
	cert, err := parseCertificate(kp.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("172.30.0.1")) || slices.Contains(cert.DNSNames, "172.30.0.1") {
		t.Errorf("IP SANs %v, DNS SANs %v: want the addresses as IP SANs only", cert.IPAddresses, cert.DNSNames)
	}
	if _, err := kp.Check(t0, append(slices.Clone(hosts), "172.30.0.2")); err == nil || !strings.Contains(err.Error(), "172.30.0.2") {
		t.Errorf("an address the certificate lacks: %v", err)
	}
	if _, err := Generate(t0, DefaultLifetime, nil); err == nil {
		t.Error("a certificate for no host was issued")
	}
}

// TestShortLifetime: a lifetime of seconds (tests) is backdated by a
// quarter of it, not an hour, so the certificate is usable and renewed
// after two thirds of its validity.
func TestShortLifetime(t *testing.T) {
	kp, err := Generate(t0, MinLifetime, names)
	if err != nil {
		t.Fatal(err)
	}
	renewAt, err := kp.Check(t0, names)
	if err != nil {
		t.Fatalf("fresh short-lived key pair: %v", err)
	}
	// Valid from t0-7.5s to t0+30s: renewal 25s after the start.
	if want := t0.Add(-MinLifetime / 4).Add(MinLifetime * 5 / 4 / 3 * 2); renewAt.Sub(want).Abs() > time.Second {
		t.Errorf("renewAt = %s, want %s", renewAt, want)
	}
}

func countCerts(bundle []byte) int {
	n := 0
	for rest := bundle; ; n++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return n
		}
	}
}

func TestMergeBundle(t *testing.T) {
	old, err := Generate(t0, DefaultLifetime, names)
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(DefaultLifetime * 2 / 3)
	current, err := Generate(later, DefaultLifetime, names)
	if err != nil {
		t.Fatal(err)
	}
	foreign := old.Cert // a serving certificate, not a CA

	merged := MergeBundle(current.CA, bytes.Join([][]byte{old.CA, foreign, current.CA, []byte("junk")}, nil), later)
	if !bytes.HasPrefix(merged, current.CA) || !bytes.Contains(merged, old.CA) || countCerts(merged) != 2 {
		t.Errorf("merged bundle: want the current CA first, then the previous one, nothing else; got %d certificates", countCerts(merged))
	}
	if again := MergeBundle(current.CA, merged, later); !bytes.Equal(again, merged) {
		t.Error("merging is not idempotent")
	}
	afterOldExpired := t0.Add(DefaultLifetime + time.Hour)
	if got := MergeBundle(current.CA, merged, afterOldExpired); !bytes.Equal(got, current.CA) {
		t.Errorf("expired CA kept: %d certificates", countCerts(got))
	}
	if got := MergeBundle(current.CA, nil, later); !bytes.Equal(got, current.CA) {
		t.Error("empty bundle: want only the current CA")
	}
}

// TestCertificateAcceptedUnderClockSkew: a controller whose clock runs 2 h
// ahead of or behind the API server's issues a certificate the API server
// accepts at once, and renews it while the API server still accepts the old
// one (issue 16: clock skew never blocks configuration writes).
func TestCertificateAcceptedUnderClockSkew(t *testing.T) {
	apiServerNow := t0
	for _, skew := range []time.Duration{-2 * time.Hour, -time.Hour, 0, time.Hour, 2 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			controllerNow := apiServerNow.Add(skew)
			kp, err := Generate(controllerNow, DefaultLifetime, names)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kp.Check(apiServerNow, names); err != nil {
				t.Fatalf("the API server refuses a certificate issued %s off its clock: %v", skew, err)
			}
			renewAt, err := kp.Check(controllerNow, names)
			if err != nil {
				t.Fatal(err)
			}
			// When the controller's clock reaches renewAt, the API server's
			// reads renewAt-skew: the old certificate must still verify.
			cert, err := parseCertificate(kp.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if apiServerRenewal := renewAt.Add(-skew); !apiServerRenewal.Before(cert.NotAfter) {
				t.Errorf("renewed at %s (API server time), after the certificate expired at %s", apiServerRenewal, cert.NotAfter)
			}
		})
	}
}
