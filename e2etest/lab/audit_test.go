package lab

import (
	"os"
	"path/filepath"
	"testing"
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
