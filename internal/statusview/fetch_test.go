package statusview

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/k8s"
)

// TestFetch serves canned API answers over HTTP and checks that Fetch asks
// for what the view needs and keeps only ironlb's Services.
func TestFetch(t *testing.T) {
	list := func(kind, apiVersion, items string) string {
		return `{"kind":"` + kind + `","apiVersion":"` + apiVersion + `","metadata":{},"items":[` + items + `]}`
	}
	answers := map[string]string{
		"/api/v1/services": list("ServiceList", "v1",
			`{"metadata":{"name":"web","namespace":"default","annotations":{"metallb.io/ip-allocated-from-pool":"lan"}},"spec":{"type":"LoadBalancer"},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.1.10"}]}}},
			 {"metadata":{"name":"db","namespace":"default"},"spec":{"type":"ClusterIP"}}`),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools": list("IPAddressPoolList", "metallb.io/v1beta1",
			`{"metadata":{"name":"lan","namespace":"metallb-system"},"spec":{"addresses":["192.168.1.0/24"]}}`),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements": list("L2AdvertisementList", "metallb.io/v1beta1",
			`{"metadata":{"name":"lan","namespace":"metallb-system"},"spec":{"ipAddressPools":["lan"]}}`),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/bgpadvertisements": list("BGPAdvertisementList", "metallb.io/v1beta1", ""),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/communities":       list("CommunityList", "metallb.io/v1beta1", ""),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/bfdprofiles":       list("BFDProfileList", "metallb.io/v1beta1", ""),
		"/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers":          list("BGPPeerList", "metallb.io/v1beta2", ""),
		"/api/v1/namespaces/metallb-system/secrets":                            list("SecretList", "v1", ""),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses": list("ServiceL2StatusList", "metallb.io/v1beta1",
			`{"metadata":{"name":"l2-abc","namespace":"metallb-system"},"status":{"node":"node-a","serviceName":"web","serviceNamespace":"default"}}`),
		"/apis/metallb.io/v1beta1/namespaces/metallb-system/servicebgpstatuses": list("ServiceBGPStatusList", "metallb.io/v1beta1", ""),
		"/api/v1/events": list("EventList", "v1", ""),
	}
	var eventSelector string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		if !ok {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, http.StatusNotFound)
			return
		}
		if r.URL.Path == "/api/v1/events" {
			eventSelector = r.URL.Query().Get("fieldSelector")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer api.Close()

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "`+api.URL+`"}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
users: [{name: test, user: {}}]
current-context: test
`), 0o600); err != nil {
		t.Fatal(err)
	}
	clients, err := k8s.NewClients(kubeconfig, "statusview-test")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Fetch(context.Background(), clients, "metallb-system", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Services) != 1 || in.Services[0].Name != "web" {
		t.Errorf("services = %v, want only the LoadBalancer one", in.Services)
	}
	if in.Config == nil || in.ConfigErr != nil {
		t.Fatalf("config = %v, %v", in.Config, in.ConfigErr)
	}
	if !strings.Contains(eventSelector, "involvedObject.kind=Service") || !strings.Contains(eventSelector, "type=Warning") {
		t.Errorf("event field selector = %q", eventSelector)
	}
	view := Build(in)
	if got := view.Rows[0]; got.Pool != "lan" || len(got.AnnouncedBy) != 1 || got.AnnouncedBy[0] != "node-a" || got.Problem != "" {
		t.Errorf("row = %+v", got)
	}

	delete(answers, "/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses")
	if _, err := Fetch(context.Background(), clients, "metallb-system", ""); err == nil || !strings.Contains(err.Error(), "servicel2statuses") {
		t.Errorf("missing CRD: err = %v", err)
	}
}
