package operations

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// refusal reads the fixture internal/webhook's TestRefusalFixture pins:
// existing.yaml is applied first, then object.yaml is refused with
// message.txt.
func refusal(t *testing.T) (existing, object, message string) {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "..", "internal", "webhook", "testdata", "refused", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	return read("existing.yaml"), read("object.yaml"), strings.TrimSpace(read("message.txt"))
}

// deniedBy is how kubectl reports a refusal of the creation webhook.
const deniedBy = `admission webhook "config.metallb.io" denied the request: `

// TestWebhookRefusesOverlappingPool: through the real API server, kubectl
// apply of a pool overlapping an existing one is refused with exactly the
// message the unit test expects, a valid pool passes, and deleting a pool an
// advertisement still names is refused too.
func TestWebhookRefusesOverlappingPool(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	existing, object, message := refusal(t)
	applyConfig(t, l, strings.Split(existing, "\n---\n")...)

	out, err := l.Kubectl(ctx, object, "apply", "-f", "-")
	if err == nil {
		t.Fatalf("overlapping pool accepted:\n%s", out)
	}
	if !strings.Contains(out, deniedBy+message) {
		t.Fatalf("refusal:\n%s\nwant it to contain:\n%s%s", out, deniedBy, message)
	}
	if _, err := l.Kubectl(ctx, "", "get", "ipaddresspool", "-n", lab.IronLBNamespace, "lab-overlap"); err == nil {
		t.Error("the refused pool was stored")
	}

	// The same pool moved next to the existing one is valid.
	applyConfig(t, l, strings.Replace(object, "192.168.10.100-192.168.10.110", "192.168.11.100-192.168.11.110", 1))

	// lab-l2 still names lab-pool: deleting lab-pool is refused by the
	// deletion webhook.
	out, err = l.Kubectl(ctx, "", "delete", "ipaddresspool", "-n", lab.IronLBNamespace, "lab-pool")
	if err == nil {
		t.Fatalf("deleting a pool an advertisement names was accepted:\n%s", out)
	}
	want := `admission webhook "config-delete.metallb.io" denied the request: IPAddressPool metallb-system/lab-pool is still needed:`
	if !strings.Contains(out, want) || !strings.Contains(out, `L2Advertisement metallb-system/lab-l2: spec.ipAddressPools[0]`) {
		t.Errorf("deletion refusal:\n%s\nwant %q and the advertisement named", out, want)
	}
}

// badAdvertisement names a pool that does not exist: refused on its own,
// whatever else is configured.
const badAdvertisement = `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: names-nothing, namespace: metallb-system}
spec:
  ipAddressPools: [no-such-pool]
`

const badAdvertisementMessage = `L2Advertisement metallb-system/names-nothing: spec.ipAddressPools[0]: unknown IPAddressPool "no-such-pool"`

// TestWebhookCertificateRotation: the controller issues certificates valid
// for 30 s in this lab (--webhook-cert-lifetime) and renews them after two
// thirds of that. Across two rotations, every admission request the API
// server sends is answered by the webhook (a refusal with the validation
// message), never a TLS failure: the new CA reaches the caBundle before the
// new certificate is served.
func TestWebhookCertificateRotation(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	first, err := l.WebhookCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	served := [][]byte{first}
	requests := 0
	deadline := time.Now().Add(90 * time.Second)
	for len(served) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d certificate(s) served in 90 s, want 3 (two rotations of a %s lifetime); see the controller log", len(served), webhookLifetime)
		}
		out, err := l.Kubectl(ctx, badAdvertisement, "create", "--dry-run=server", "-f", "-")
		requests++
		if err == nil || !strings.Contains(out, deniedBy+badAdvertisementMessage) {
			t.Fatalf("request %d (after %d rotation(s)): want the webhook's refusal, got err %v:\n%s", requests, len(served)-1, err, out)
		}
		now, err := l.WebhookCertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(now, served[len(served)-1]) {
			served = append(served, now)
			t.Logf("rotation %d after %d requests", len(served)-1, requests)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
