package v1beta1_test

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// The BGPPeer CRD converts between v1beta1 and v1beta2 with strategy None:
// the API server changes only apiVersion and keeps the JSON as it is. These
// tests prove that this is a lossless conversion for everything v1beta1 can
// say, as MetalLB's conversion webhook does it.

// convert re-decodes in's JSON into out, as strategy None does.
func convert(t *testing.T, in, out any) {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

func fullV1beta1() *v1beta1.BGPPeer {
	return &v1beta1.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{Name: "tor", Namespace: "metallb-system", Labels: map[string]string{"rack": "a"}},
		Spec: v1beta1.BGPPeerSpec{
			MyASN: 64512, ASN: 64513, Address: "192.0.2.1", SrcAddress: "192.0.2.10", Port: 1179,
			HoldTime: &metav1.Duration{Duration: 90 * time.Second}, KeepaliveTime: &metav1.Duration{Duration: 30 * time.Second},
			RouterID: "10.0.0.1", Password: "secret", BFDProfile: "fast", EBGPMultiHop: true,
			NodeSelectors: []v1beta1.NodeSelector{
				{MatchLabels: map[string]string{"rack": "a"}},
				{MatchExpressions: []v1beta1.MatchExpression{{Key: "zone", Operator: "In", Values: []string{"x", "y"}}}},
			},
		},
	}
}

// TestBGPPeerV1beta1ToV1beta2: every v1beta1 field arrives in its v1beta2
// counterpart.
func TestBGPPeerV1beta1ToV1beta2(t *testing.T) {
	got, err := fullV1beta1().ToV1beta2()
	if err != nil {
		t.Fatal(err)
	}
	if got.APIVersion != "metallb.io/v1beta2" {
		t.Errorf("apiVersion %q, want metallb.io/v1beta2", got.APIVersion)
	}
	want := v1beta2.BGPPeerSpec{
		MyASN: 64512, PeerASN: 64513, PeerAddress: "192.0.2.1", SourceAddress: "192.0.2.10", PeerPort: 1179,
		HoldTime: &metav1.Duration{Duration: 90 * time.Second}, KeepaliveTime: &metav1.Duration{Duration: 30 * time.Second},
		RouterID: "10.0.0.1", Password: "secret", BFDProfile: "fast", EBGPMultiHop: true,
		NodeSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"rack": "a"}},
			{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "y"}}}},
		},
	}
	if !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("v1beta2 spec:\n%+v\nwant\n%+v", got.Spec, want)
	}
	if got.Name != "tor" || got.Labels["rack"] != "a" {
		t.Errorf("metadata lost: %+v", got.ObjectMeta)
	}
}

// TestBGPPeerRoundTrips: v1beta1 → v1beta2 → v1beta1 gives back the same
// object, and so does v1beta2 → v1beta1 → v1beta2 for a v1beta2 object that
// uses only what v1beta1 can say.
func TestBGPPeerRoundTrips(t *testing.T) {
	original := fullV1beta1()
	var middle v1beta2.BGPPeer
	var back v1beta1.BGPPeer
	convert(t, original, &middle)
	convert(t, &middle, &back)
	if !reflect.DeepEqual(&back, original) {
		t.Errorf("v1beta1 round trip:\n%+v\nwant\n%+v", back, *original)
	}

	var v2 v1beta2.BGPPeer
	convert(t, original, &v2)
	var v1 v1beta1.BGPPeer
	var v2back v1beta2.BGPPeer
	convert(t, &v2, &v1)
	convert(t, &v1, &v2back)
	if !reflect.DeepEqual(v2back, v2) {
		t.Errorf("v1beta2 round trip:\n%+v\nwant\n%+v", v2back, v2)
	}
}

// TestBGPPeerCRDSchemasAgree reads the generated CRD: every field of the
// v1beta1 schema exists in the v1beta2 schema with the same type, so the API
// server never drops or rejects a v1beta1 field when it serves the object as
// v1beta2, and v1beta2 is the stored version.
func TestBGPPeerCRDSchemasAgree(t *testing.T) {
	data, err := os.ReadFile("../../../manifests/crds/metallb.io_bgppeers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	if crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
		t.Fatalf("conversion strategy %q, want None", crd.Spec.Conversion.Strategy)
	}
	schemas := map[string]*apiextensionsv1.JSONSchemaProps{}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			t.Errorf("version %s is not served", v.Name)
		}
		if v.Storage != (v.Name == "v1beta2") {
			t.Errorf("version %s: storage %v, want only v1beta2 stored", v.Name, v.Storage)
		}
		schemas[v.Name] = v.Schema.OpenAPIV3Schema
	}
	if schemas["v1beta1"] == nil || schemas["v1beta2"] == nil {
		t.Fatalf("versions %v, want v1beta1 and v1beta2", slices.Sorted(maps.Keys(schemas)))
	}
	compareSchemas(t, "", schemas["v1beta1"], schemas["v1beta2"])
}

// compareSchemas checks that every property of old exists in next with the
// same type, recursively.
func compareSchemas(t *testing.T, path string, old, next *apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	if old.Type != next.Type {
		t.Errorf("%s: type %q in v1beta1, %q in v1beta2", path, old.Type, next.Type)
		return
	}
	for name, prop := range old.Properties {
		nextProp, ok := next.Properties[name]
		if !ok {
			t.Errorf("%s.%s: in v1beta1, missing from v1beta2", path, name)
			continue
		}
		compareSchemas(t, path+"."+name, &prop, &nextProp)
	}
	if old.Items != nil && old.Items.Schema != nil {
		if next.Items == nil || next.Items.Schema == nil {
			t.Errorf("%s: a list in v1beta1 only", path)
			return
		}
		compareSchemas(t, path+"[]", old.Items.Schema, next.Items.Schema)
	}
	if old.AdditionalProperties != nil && old.AdditionalProperties.Schema != nil {
		if next.AdditionalProperties == nil || next.AdditionalProperties.Schema == nil {
			t.Errorf("%s: a map in v1beta1 only", path)
			return
		}
		compareSchemas(t, path+"{}", old.AdditionalProperties.Schema, next.AdditionalProperties.Schema)
	}
}
