package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigYAML feeds arbitrary YAML to the decoder and Build. Neither may
// panic, and an accepted configuration must keep Build's promises: no two
// pool ranges share an address and every advertised pool exists.
func FuzzConfigYAML(f *testing.F) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(pool("a", "10.0.0.0/24") + pool("b", "10.0.0.9-10.0.1.3")))
	f.Add([]byte("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, holdTime: 1h}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res Resources
		if _, err := DecodeYAML(bytes.NewReader(data), "fuzz", &res); err != nil {
			return
		}
		cfg, err := Build(res)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("Build returned %T, want config.Errors", err)
			}
			return
		}
		var all []poolRange
		for _, p := range cfg.Pools {
			for _, r := range p.Ranges {
				all = append(all, poolRange{pool: p.Name, start: r.From(), end: r.To()})
			}
		}
		check := &builder{}
		check.checkOverlaps(all)
		if len(check.errs) > 0 {
			t.Fatalf("accepted overlapping pools: %v", check.errs)
		}
		for _, adv := range cfg.L2Advertisements {
			for _, name := range adv.Pools {
				if cfg.Pools[name] == nil {
					t.Fatalf("L2Advertisement %s resolved to missing pool %s", adv.Name, name)
				}
			}
		}
		for _, adv := range cfg.BGPAdvertisements {
			for _, name := range adv.Peers {
				if cfg.Peers[name] == nil {
					t.Fatalf("BGPAdvertisement %s resolved to missing peer %s", adv.Name, name)
				}
			}
		}
	})
}

// FuzzParseAddressRange checks that any accepted pool entry is a valid range
// of one family whose text parses back to itself (unless an end is an
// IPv4-mapped address, which only a CIDR may cover).
func FuzzParseAddressRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1 - 10.0.0.9", "fd00::/64", "fd00::1-fd00::ff", "1.2.3.4-::1", "::ffff:1.2.3.4/128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAddressRange(s)
		if err != nil {
			return
		}
		if !r.IsValid() || r.From().Is4() != r.To().Is4() {
			t.Fatalf("%q parsed to invalid range %v", s, r)
		}
		if r.From().Is4In6() || r.To().Is4In6() {
			return
		}
		back, err := ParseAddressRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q → %v → %v, %v", s, r, back, err)
		}
	})
}
