package webhook

import (
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// BenchmarkReviewLargeConfiguration measures one admission decision against
// a configuration of 500 pools and 500 advertisements (two full builds).
func BenchmarkReviewLargeConfiguration(b *testing.B) {
	var docs strings.Builder
	for i := range 500 {
		fmt.Fprintf(&docs, "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p%d, namespace: metallb-system}\nspec: {addresses: [10.%d.%d.0/24]}\n", i, i/256, i%256)
		fmt.Fprintf(&docs, "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l%d, namespace: metallb-system}\nspec: {ipAddressPools: [p%d]}\n", i, i)
	}
	existing := resources(b, docs.String())
	req := request(b, admissionv1.Create, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: new, namespace: metallb-system}\nspec: {addresses: [10.200.0.0/24]}\n")
	v := Validator{Namespace: namespace}
	b.ResetTimer()
	for b.Loop() {
		if resp := v.Review(req, existing); !resp.Allowed {
			b.Fatal(resp.Result.Message)
		}
	}
}
