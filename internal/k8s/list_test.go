package k8s

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// TestListConfigReadsEveryKind serves canned API answers over HTTP and
// checks that ListConfig asks for each configuration kind of the namespace
// and decodes it.
func TestListConfigReadsEveryKind(t *testing.T) {
	answers := map[string]string{
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools":    `{"kind":"IPAddressPoolList","apiVersion":"metallb.io/v1beta1","items":[{"metadata":{"name":"a","namespace":"metallb-system"},"spec":{"addresses":["192.0.2.0/24"]}}]}`,
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements":  `{"kind":"L2AdvertisementList","apiVersion":"metallb.io/v1beta1","items":[{"metadata":{"name":"l2"}}]}`,
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/bgpadvertisements": `{"kind":"BGPAdvertisementList","apiVersion":"metallb.io/v1beta1","items":[]}`,
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/communities":       `{"kind":"CommunityList","apiVersion":"metallb.io/v1beta1","items":[{"metadata":{"name":"c"}}]}`,
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/bfdprofiles":       `{"kind":"BFDProfileList","apiVersion":"metallb.io/v1beta1","items":[]}`,
		"/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers":          `{"kind":"BGPPeerList","apiVersion":"metallb.io/v1beta2","items":[{"metadata":{"name":"r"},"spec":{"myASN":64512,"peerASN":64500,"peerAddress":"10.0.0.1"}}]}`,
		"/api/v1/namespaces/metallb-system/secrets":                            `{"kind":"SecretList","apiVersion":"v1","items":[{"metadata":{"name":"bgp-pass","namespace":"metallb-system"},"data":{"password":"cw=="}}]}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer api.Close()

	cfg := &rest.Config{Host: api.URL}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := metallbClient(cfg, v1beta1.GroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := metallbClient(cfg, v1beta2.GroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	clients := &Clients{Kube: kube, MetalLBv1beta1: v1, MetalLBv1beta2: v2}
	res, err := clients.ListConfig(context.Background(), "metallb-system")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pools) != 1 || res.Pools[0].Spec.Addresses[0] != "192.0.2.0/24" || len(res.L2Advertisements) != 1 ||
		len(res.Communities) != 1 || len(res.Peers) != 1 || res.Peers[0].Spec.PeerASN != 64500 ||
		string(res.Secrets["metallb-system/bgp-pass"].Data["password"]) != "s" {
		t.Errorf("resources = %+v", res)
	}

	delete(answers, "/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers")
	if _, err := clients.ListConfig(context.Background(), "metallb-system"); err == nil || !strings.Contains(err.Error(), "bgppeers") {
		t.Errorf("missing kind: err = %v", err)
	}
}
