package speaker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ironlb/ironlb/internal/config/configtest"
)

const lastGoodYAML = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1, passwordSecret: {name: md5}}
---
apiVersion: v1
kind: Secret
metadata: {name: md5, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: s3cr3t}
`

func TestLastGoodConfigurationSurvivesARestart(t *testing.T) {
	res := configtest.Resources(t, lastGoodYAML)
	dir := t.TempDir()
	if cfg, err := loadLastGood(dir); cfg != nil || err != nil {
		t.Fatalf("nothing saved yet: loadLastGood = %v, %v; want nil, nil", cfg, err)
	}
	if err := saveLastGood(dir, res); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, lastGoodFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("saved with mode %v, want 0600 (it holds BGP passwords)", mode)
	}
	cfg, err := loadLastGood(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pools) != 1 || cfg.Pools["lan"] == nil {
		t.Errorf("pools = %v, want lan", cfg.Pools)
	}
	if p := cfg.Peers["router"]; p == nil || p.Password != "s3cr3t" {
		t.Errorf("peer router = %+v, want its password from the saved Secret", p)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the state directory, want only %s (no temporary file left)", len(entries), lastGoodFile)
	}

	if err := os.WriteFile(filepath.Join(dir, lastGoodFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := loadLastGood(dir); cfg != nil || err == nil {
		t.Errorf("a corrupt file: loadLastGood = %v, %v; want an error", cfg, err)
	}
	if cfg, err := loadLastGood(""); cfg != nil || err != nil {
		t.Errorf("no state directory: loadLastGood = %v, %v; want nil, nil", cfg, err)
	}
}
