package webhook

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/config/configtest"
)

const namespace = "metallb-system"

// resources decodes YAML documents into Resources, as `controller validate`
// reads them.
func resources(t testing.TB, docs string) config.Resources {
	return configtest.Resources(t, docs)
}

// request builds an AdmissionRequest for one object given as YAML.
func request(t testing.TB, op admissionv1.Operation, doc string) *admissionv1.AdmissionRequest {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	group, version, _ := strings.Cut(meta.APIVersion, "/")
	req := &admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      metav1.GroupVersionKind{Group: group, Version: version, Kind: meta.Kind},
		Name:      meta.Metadata.Name,
		Namespace: meta.Metadata.Namespace,
		Operation: op,
	}
	if op == admissionv1.Delete {
		req.OldObject = runtime.RawExtension{Raw: raw}
	} else {
		req.Object = runtime.RawExtension{Raw: raw}
	}
	return req
}

const poolA = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24]
`

const l2ForA = `
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec:
  ipAddressPools: [a]
`

const poolBOverlapping = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec:
  addresses: [192.168.10.128-192.168.10.200]
`

func TestReview(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing string
		op       admissionv1.Operation
		object   string
		// wantCode 0 means allowed; otherwise the refusal's code, and
		// wantMessage lists substrings of its message.
		wantCode    int32
		wantMessage []string
	}{
		{
			name:   "valid pool created",
			op:     admissionv1.Create,
			object: poolA,
		},
		{
			name:     "overlapping pool refused, naming both",
			existing: poolA,
			op:       admissionv1.Create,
			object:   poolBOverlapping,
			wantCode: http.StatusForbidden,
			wantMessage: []string{
				"IPAddressPool metallb-system/b: spec.addresses[0]: 192.168.10.128-192.168.10.200 overlaps 192.168.10.0-192.168.10.255 of IPAddressPool a (spec.addresses[0])",
			},
		},
		{
			name:        "update into an overlap refused",
			existing:    poolA + "---\n" + strings.Replace(poolBOverlapping, "192.168.10.128-192.168.10.200", "10.0.0.0/24", 1),
			op:          admissionv1.Update,
			object:      poolBOverlapping,
			wantCode:    http.StatusForbidden,
			wantMessage: []string{"overlaps 192.168.10.0-192.168.10.255 of IPAddressPool a"},
		},
		{
			name:     "update that removes an existing overlap accepted",
			existing: poolA + "---\n" + poolBOverlapping,
			op:       admissionv1.Update,
			object:   strings.Replace(poolBOverlapping, "192.168.10.128-192.168.10.200", "10.0.0.0/24", 1),
		},
		{
			name:     "unrelated change accepted while the configuration is already broken",
			existing: poolA + "---\n" + poolBOverlapping,
			op:       admissionv1.Create,
			object:   l2ForA,
		},
		{
			name:        "advertisement naming a missing pool refused",
			op:          admissionv1.Create,
			object:      l2ForA,
			wantCode:    http.StatusForbidden,
			wantMessage: []string{`L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: unknown IPAddressPool "a"`},
		},
		{
			name:     "deleting a pool an advertisement names refused",
			existing: poolA + "---\n" + l2ForA,
			op:       admissionv1.Delete,
			object:   poolA,
			wantCode: http.StatusForbidden,
			wantMessage: []string{
				"IPAddressPool metallb-system/a is still needed:",
				`L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: unknown IPAddressPool "a"`,
			},
		},
		{
			name:     "deleting the advertisement first, then the pool, accepted",
			existing: poolA,
			op:       admissionv1.Delete,
			object:   poolA,
		},
		{
			name:     "deleting a pool only selected by label accepted",
			existing: poolA + "---\n" + strings.Replace(l2ForA, "ipAddressPools: [a]", "ipAddressPoolSelectors: [{matchLabels: {zone: a}}]", 1),
			op:       admissionv1.Delete,
			object:   poolA,
		},
		{
			name:        "object outside the namespace refused",
			op:          admissionv1.Create,
			object:      strings.Replace(poolA, "namespace: metallb-system", "namespace: default", 1),
			wantCode:    http.StatusForbidden,
			wantMessage: []string{"IPAddressPool default/a: metadata.namespace: must be metallb-system"},
		},
		{
			name: "BGPPeer naming an unknown BFDProfile refused",
			op:   admissionv1.Create,
			object: `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 10.0.0.1, bfdProfile: fast}
`,
			wantCode:    http.StatusForbidden,
			wantMessage: []string{"BGPPeer metallb-system/router: spec.bfdProfile:"},
		},
		{
			name:     "BGPAdvertisement with a bad community refused",
			existing: poolA,
			op:       admissionv1.Create,
			object: `
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv, namespace: metallb-system}
spec: {ipAddressPools: [a], communities: ["65536:1"]}
`,
			wantCode:    http.StatusForbidden,
			wantMessage: []string{"BGPAdvertisement metallb-system/adv: spec.communities[0]:"},
		},
		{
			name:     "malformed object refused with a clear error",
			op:       admissionv1.Create,
			object:   "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: metallb-system}\nspec: {addresses: 12}\n",
			wantCode: http.StatusBadRequest,
			wantMessage: []string{
				"IPAddressPool metallb-system/a: cannot decode the object:",
				"cannot unmarshal number",
			},
		},
		{
			name:   "status objects are not judged",
			op:     admissionv1.Create,
			object: "apiVersion: metallb.io/v1beta1\nkind: ServiceL2Status\nmetadata: {name: l2-x, namespace: elsewhere}\n",
		},
		{
			name:   "other groups are not judged",
			op:     admissionv1.Create,
			object: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, tc.op, tc.object)
			resp := Validator{Namespace: namespace}.Review(req, resources(t, tc.existing))
			if resp.UID != req.UID {
				t.Errorf("UID = %q, want %q", resp.UID, req.UID)
			}
			if tc.wantCode == 0 {
				if !resp.Allowed {
					t.Fatalf("refused: %s", resp.Result.Message)
				}
				return
			}
			if resp.Allowed {
				t.Fatal("allowed, want refused")
			}
			if resp.Result.Code != tc.wantCode {
				t.Errorf("code = %d, want %d (%s)", resp.Result.Code, tc.wantCode, resp.Result.Message)
			}
			for _, want := range tc.wantMessage {
				if !strings.Contains(resp.Result.Message, want) {
					t.Errorf("message %q does not contain %q", resp.Result.Message, want)
				}
			}
		})
	}
}

// TestSameWordsAsValidate checks that a refusal says exactly what `controller
// validate` (config.ValidateSources) says about the resulting configuration.
func TestSameWordsAsValidate(t *testing.T) {
	req := request(t, admissionv1.Create, poolBOverlapping)
	resp := Validator{Namespace: namespace}.Review(req, resources(t, poolA))

	_, err := config.ValidateSources([]config.Source{{Name: "all.yaml", Reader: strings.NewReader(poolA + "---\n" + poolBOverlapping)}})
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("validate: %v", err)
	}
	if resp.Result.Message != errs.Error() {
		t.Errorf("webhook says %q\nvalidate says %q", resp.Result.Message, errs.Error())
	}
}

func TestDeleteWithoutObject(t *testing.T) {
	req := request(t, admissionv1.Delete, poolA)
	req.OldObject.Raw = nil
	resp := Validator{Namespace: namespace}.Review(req, config.Resources{})
	if resp.Allowed || resp.Result.Code != http.StatusBadRequest || !strings.Contains(resp.Result.Message, "no object") {
		t.Errorf("response = %+v", resp.Result)
	}
}

func FuzzReview(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"metallb-system"},"spec":{"addresses":["192.168.10.0/24"]}}`), "IPAddressPool")
	f.Add([]byte(`{"metadata":{"name":"r"},"spec":{"myASN":1,"peerAddress":"::1"}}`), "BGPPeer")
	f.Add([]byte(`{"spec":{"communities":[{"name":"x","value":"large:1:2:3"}]}}`), "Community")
	f.Add([]byte(`[]`), "L2Advertisement")
	existing := config.Resources{}
	f.Fuzz(func(t *testing.T, raw []byte, kindName string) {
		version := "v1beta1"
		if kindName == "BGPPeer" {
			version = "v1beta2"
		}
		for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete} {
			req := &admissionv1.AdmissionRequest{
				UID:       "u",
				Kind:      metav1.GroupVersionKind{Group: Group, Version: version, Kind: kindName},
				Namespace: namespace,
				Operation: op,
				Object:    runtime.RawExtension{Raw: raw},
				OldObject: runtime.RawExtension{Raw: raw},
			}
			resp := Validator{Namespace: namespace}.Review(req, existing)
			if resp == nil || resp.UID != "u" || (!resp.Allowed && (resp.Result == nil || resp.Result.Message == "")) {
				t.Fatalf("bad response %+v", resp)
			}
		}
	})
}

// TestRefusalFixture pins the refusal of testdata/refused: applying
// existing.yaml then object.yaml is refused with message.txt. The lab's
// end-to-end test applies the same files with kubectl and expects the same
// words in kubectl's error.
func TestRefusalFixture(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("testdata", "refused", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	req := request(t, admissionv1.Create, read("object.yaml"))
	resp := Validator{Namespace: namespace}.Review(req, resources(t, read("existing.yaml")))
	if resp.Allowed {
		t.Fatal("allowed")
	}
	if want := strings.TrimSpace(read("message.txt")); resp.Result.Message != want {
		t.Errorf("message = %q\nwant      %q", resp.Result.Message, want)
	}
}
