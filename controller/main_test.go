package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/version"
)

func TestValidateCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"validate", "-f", "../internal/config/testdata/valid/seed-003-layer2.yaml"}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("valid file refused: %v\n%s", err, stdout.String())
	}
	stdout.Reset()
	bad := "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: x}\nspec: {addresses: [10.0.0.0/24, 10.0.0.9-10.0.0.1]}\n" +
		"---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, namespace: x}\nspec: {ipAddressPools: [b]}\n"
	err := run([]string{"validate", "-f", "-"}, strings.NewReader(bad), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "2 error(s)") {
		t.Fatalf("err = %v, want 2 errors", err)
	}
	want := "IPAddressPool x/a: spec.addresses[1]: invalid range \"10.0.0.9-10.0.0.1\": start is after end\n" +
		"L2Advertisement x/l2: spec.ipAddressPools[0]: unknown IPAddressPool \"b\"\n"
	if stdout.String() != want {
		t.Errorf("output =\n%s\nwant\n%s", stdout.String(), want)
	}
}

func TestConvertConfigMapCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"convert-configmap", "-f", "../internal/legacy/testdata/seed-001-kind-layer2.yaml"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"validate", "-f", "-"}, &stdout, &out, &stderr); err != nil {
		t.Fatalf("converted output does not validate: %v\n%s", err, out.String())
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-cert-lifetime", "10s"}, "--webhook-cert-lifetime 10s: must be at least 30s"},
		{[]string{"--log-level", "loud"}, "loud"},
	} {
		var stderr bytes.Buffer
		err := run(tc.args, nil, nil, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	if got := strings.Join(splitList(" 172.30.0.1, ,fd00:30::1,"), "|"); got != "172.30.0.1|fd00:30::1" {
		t.Errorf("splitList = %q", got)
	}
	if got := splitList(""); got != nil {
		t.Errorf("splitList(\"\") = %q, want none", got)
	}
}

// TestHelpListsSubcommandsAndStartsNothing: `controller help` and `--help` used to start the controller or
// list only its flags.
func TestHelpListsSubcommandsAndStartsNothing(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var stdout, stderr bytes.Buffer
		if err := run(args, nil, &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"\n  status ", "\n  validate ", "\n  convert-configmap ", "\n  help [SUBCOMMAND] ", "\n  version ", "-webhook-addr string"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, stdout.String())
			}
		}
	}
	var stdout bytes.Buffer
	if err := run([]string{"help", "validate"}, nil, &stdout, nil); err != nil || !strings.Contains(stdout.String(), "-f value") {
		t.Errorf("help validate: %v\n%s", err, stdout.String())
	}
	if err := run([]string{"stauts"}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), `unknown subcommand "stauts"`) {
		t.Errorf("a misspelt subcommand: err = %v, want it refused before the controller starts", err)
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := run([]string{"--version"}, nil, &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if want := "controller " + version.Version + ", revision "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("--version = %q, want it to start with %q", stdout.String(), want)
	}
}
