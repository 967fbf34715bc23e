package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ironlb/ironlb/internal/k8s"
)

func TestReadForbidden(t *testing.T) {
	log := `{"kind":"Event","stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/nodes","user":{"username":"system:serviceaccount:metallb-system:speaker"},"responseStatus":{"code":200},"stageTimestamp":"t1"}
{"kind":"Event","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/metallb-system/secrets","user":{"username":"system:serviceaccount:metallb-system:controller"},"responseStatus":{"code":403,"reason":"Forbidden"},"annotations":{"authorization.k8s.io/reason":"no RBAC rule"},"stageTimestamp":"t2"}
{"kind":"Event","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"system:serviceaccount:kube-system:other"},"responseStatus":{"code":403},"stageTimestamp":"t3"}
`
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, audited, err := readForbidden(path, "system:serviceaccount:metallb-system:")
	if err != nil {
		t.Fatal(err)
	}
	if audited != 2 {
		t.Errorf("%d events of metallb-system service accounts, want 2", audited)
	}
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1: %v", len(got), got)
	}
	want := AuditEvent{User: "system:serviceaccount:metallb-system:controller", Verb: "create",
		RequestURI: "/api/v1/namespaces/metallb-system/secrets", Code: 403, Reason: "Forbidden", Timestamp: "t2",
		Annotations: map[string]string{"authorization.k8s.io/reason": "no RBAC rule"}}
	if got[0].String() != want.String() {
		t.Errorf("got %s\nwant %s", got[0], want)
	}

	missing, audited, err := readForbidden(filepath.Join(t.TempDir(), "absent.log"), "x")
	if err != nil || missing != nil || audited != 0 {
		t.Errorf("absent log: %v, %d, %v; want none and no error", missing, audited, err)
	}
	if err := os.WriteFile(path, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readForbidden(path, "x"); err == nil {
		t.Error("a corrupt log gave no error")
	}
}

func TestReadUsed(t *testing.T) {
	log := `{"verb":"watch","user":{"username":"system:serviceaccount:metallb-system:speaker"},"objectRef":{"resource":"nodes","apiVersion":"v1"},"responseStatus":{"code":200}}
{"verb":"watch","user":{"username":"system:serviceaccount:metallb-system:speaker"},"objectRef":{"resource":"nodes","apiVersion":"v1"},"responseStatus":{"code":200}}
{"verb":"patch","user":{"username":"system:serviceaccount:metallb-system:controller"},"objectRef":{"resource":"services","subresource":"status","namespace":"default","name":"web"},"responseStatus":{"code":200}}
{"verb":"update","user":{"username":"system:serviceaccount:metallb-system:controller"},"objectRef":{"resource":"leases","namespace":"metallb-system","name":"ironlb-controller","apiGroup":"coordination.k8s.io"},"responseStatus":{"code":200}}
{"verb":"create","user":{"username":"system:serviceaccount:metallb-system:controller"},"objectRef":{"resource":"secrets","namespace":"metallb-system"},"responseStatus":{"code":403}}
{"verb":"get","user":{"username":"system:serviceaccount:metallb-system:controller"},"requestURI":"/healthz","responseStatus":{"code":200}}
{"verb":"list","user":{"username":"system:serviceaccount:kube-system:other"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200}}
`
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readUsed(path, "system:serviceaccount:metallb-system:")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]k8s.Request{
		"speaker": {{Resource: "nodes", Verb: "watch"}},
		"controller": {
			{Namespace: "default", Resource: "services/status", Name: "web", Verb: "patch"},
			{Namespace: "metallb-system", Group: "coordination.k8s.io", Resource: "leases", Name: "ironlb-controller", Verb: "update"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readUsed = %+v\nwant %+v", got, want)
	}
}
