package bgp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// md5Password is the TCP-MD5 password the router requires on IPv4 sessions
// in TestMD5PasswordSecret.
const md5Password = "lab-md5-secret"

// withMD5 returns a router configuration that also requires TCP-MD5 on
// every IPv4 session.
func withMD5(t *testing.T, config lab.RouterConfig) lab.RouterConfig {
	t.Helper()
	var from, to string
	switch config.Kind {
	case lab.BIRD2:
		from = "template bgp nodes_v4 {\n"
		to = from + fmt.Sprintf("  password %q;\n", md5Password)
	case lab.BIRD1:
		from = "template bgp nodes {\n"
		to = from + fmt.Sprintf("  password %q;\n", md5Password)
	case lab.FRR:
		from = " neighbor nodes4 timers connect 5\n"
		to = from + " neighbor nodes4 password " + md5Password + "\n"
	}
	md5 := config
	md5.Config = strings.Replace(config.Config, from, to, 1)
	if md5.Config == config.Config {
		t.Fatalf("%s configuration: no %q to add the password to", config.Kind, from)
	}
	return md5
}

// md5SecretYAML is the basic-auth Secret the IPv4 BGPPeer takes its password
// from.
func md5SecretYAML(password string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: bgp-md5
  namespace: %s
type: kubernetes.io/basic-auth
stringData:
  password: %q
`, lab.IronLBNamespace, password)
}

// testMD5PasswordSecret: with a router that requires TCP-MD5, a BGPPeer
// whose passwordSecret holds the wrong password never establishes (the
// speaker logs why and exports the session as down) while the other sessions
// carry their routes; fixing the Secret establishes it.
func testMD5PasswordSecret(t *testing.T, config lab.RouterConfig) {
	l := setUp(t, withMD5(t, config))
	kind := config.Kind
	restoreBase(t, kind)
	ctx := t.Context()
	t.Cleanup(func() {
		if _, err := l.Kubectl(context.Background(), md5SecretYAML(""), "delete", "--ignore-not-found", "-f", "-"); err != nil {
			t.Errorf("deleting the Secret: %v", err)
		}
	})

	logStart := speakerLogSize(t, 1)
	apply(t, documents(md5SecretYAML("not-the-password"),
		peerYAML(kind, peerV4, lab.RouterIPv4, "  passwordSecret: {name: bgp-md5, namespace: "+lab.IronLBNamespace+"}")))
	watch, err := l.Router().WatchRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ips := createService(t, newService("md5-"+string(kind), basePool), 1, 2, 3)
	v4, v6 := hostPrefix(ips[0]), hostPrefix(ips[1])
	waitRoute(t, v6, 1, 2, 3)
	lab.Eventually(t, routeTimeout, "node1's speaker reports the failed IPv4 session", func() error {
		log := speakerLog(t, 1, logStart)
		if !failureLogged(log, peerV4, "connect failed: dial tcp 0.0.0.0:0->172.30.0.254:179: i/o timeout (no answer: peer unreachable, or TCP-MD5 password mismatch)") {
			return fmt.Errorf("no TCP-MD5 hint in node1's speaker log yet")
		}
		up, err := sessionUp(ctx, l, 1, lab.RouterIPv4)
		if err != nil {
			return err
		}
		if up != "0" {
			return fmt.Errorf("metallb_bgp_session_up of the IPv4 session is %s, want 0", up)
		}
		return nil
	})
	sessions, err := routerSessions(ctx, l.Router())
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range nodeAddrs(l, false) {
		if sessions[addr].Established {
			t.Errorf("the router established the session with %s despite the wrong password", addr)
		}
	}
	if events := eventsFor(drain(watch), v4); len(events) > 0 {
		t.Errorf("the router changed %s while the password was wrong: %v", v4, events)
	}

	apply(t, md5SecretYAML(md5Password))
	waitRoute(t, v4, 1, 2, 3)
	curlFromExt(t, ips[0], 1, 2, 3)
	lab.Eventually(t, routeTimeout, "node1 exports the IPv4 session as up", func() error {
		up, err := sessionUp(ctx, l, 1, lab.RouterIPv4)
		if err == nil && up != "1" {
			err = fmt.Errorf("metallb_bgp_session_up of the IPv4 session is %s, want 1", up)
		}
		return err
	})
}
