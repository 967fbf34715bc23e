package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// demoL2 is the layer-2 configuration, in the shape of MetalLB's
// documentation: a pool on the nodes' segment and an L2Advertisement.
var demoL2 = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: %[1]s
spec:
  addresses:
  - %[2]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: ip-advertisement
  namespace: %[1]s
spec:
  ipAddressPools:
  - first-pool
`, lab.IronLBNamespace, lab.L2PoolIPv4)

// demoBGP peers every node with the lab's router and announces a second
// pool, used only on request, over BGP.
var demoBGP = fmt.Sprintf(`apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
  namespace: %[1]s
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: bgp-pool
  namespace: %[1]s
spec:
  addresses:
  - %[5]s
  autoAssign: false
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgp
  namespace: %[1]s
spec:
  ipAddressPools:
  - bgp-pool
`, lab.IronLBNamespace, lab.NodeASN, lab.RouterASN, lab.RouterIPv4, lab.BGPPoolIPv4)

// demoService is a LoadBalancer Service named name, with extra annotations.
func demoService(name, annotations string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: default%s
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 80
`, name, annotations)
}

// narrator prints the demo's story.
type narrator struct{ step int }

func (n *narrator) section(format string, args ...any) {
	n.step++
	fmt.Printf("\n==> %d. %s\n", n.step, fmt.Sprintf(format, args...))
}

func (n *narrator) say(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

// show prints a command (lines after the first are its input) and its
// output, indented.
func (n *narrator) show(command, output string) {
	fmt.Printf("    $ %s\n", strings.ReplaceAll(command, "\n", "\n      "))
	for _, line := range strings.Split(strings.TrimRight(output, "\n"), "\n") {
		fmt.Printf("      %s\n", line)
	}
}

// demo walks through ironlb in the lab as users run it: real nodes, the
// manifest applied, backend pods, layer 2 assignment and failover, then BGP.
// KEEP=1 leaves the lab up afterwards.
func demo(ctx context.Context, args []string) (err error) {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	nodes := flags.Int("nodes", 3, "number of nodes")
	if err := flags.Parse(args); err != nil {
		return err
	}
	keep := os.Getenv("KEEP") == "1"
	n := &narrator{}
	n.section("Bringing the lab up: %d real nodes (containerd, kubelet, kube-proxy), a client, a BGP router with a network behind it", *nodes)
	n.say("(the first run builds the Kubernetes binaries from the Go module proxy: ~20-25 minutes on 2 cores, once)")
	l, err := lab.Up(ctx, lab.Options{Nodes: *nodes, Log: os.Stdout, Pods: true, WithoutIronLB: true})
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			l.Detach()
			printHowTo(l)
			return
		}
		n.section("Tearing the lab down (KEEP=1 make demo leaves it up)")
		if downErr := l.Down(); downErr != nil && err == nil {
			err = downErr
		}
	}()
	kubectl := func(stdin string, args ...string) (string, error) {
		out, err := l.Kubectl(ctx, stdin, args...)
		command := "kubectl " + strings.Join(args, " ")
		if stdin != "" {
			command += " <<EOF\n" + stdin + "EOF"
		}
		n.show(command, out)
		return out, err
	}
	if _, err := kubectl("", "get", "nodes", "-o", "wide"); err != nil {
		return err
	}
	n.say("Every kubelet registered its Node; RBAC is enforced (--authorization-mode=Node,RBAC).")

	n.section("Installing ironlb as users do: the manifest, unchanged")
	start := time.Now()
	if _, err := kubectl("", "apply", "-f", l.ManifestPath("metallb-native.yaml")); err != nil {
		return err
	}
	if err := l.WaitIronLBReady(ctx, 3*time.Minute); err != nil {
		return err
	}
	n.say("the controller and every speaker are Ready after %s", time.Since(start).Round(100*time.Millisecond))
	if _, err := kubectl("", "-n", lab.IronLBNamespace, "get", "pods", "-o", "wide"); err != nil {
		return err
	}

	n.section("Running a backend pod on every node: each answers HTTP with its node's name")
	if err := l.DeployBackends(ctx, "default", "web"); err != nil {
		return err
	}
	if _, err := kubectl("", "get", "pods", "-l", "app=web", "-o", "wide"); err != nil {
		return err
	}

	n.section("Applying an address pool on the nodes' segment and an L2Advertisement (admitted by ironlb's webhook)")
	if err := applyWhenAdmitted(ctx, kubectl, demoL2); err != nil {
		return err
	}

	n.section("Creating a LoadBalancer Service (externalTrafficPolicy: Local) for the backends")
	if _, err := kubectl(demoService("web", ""), "apply", "-f", "-"); err != nil {
		return err
	}
	vip, elapsed, err := waitForIP(ctx, l, "web")
	if err != nil {
		return err
	}
	n.say("the controller assigned %s in %s", vip, elapsed.Round(time.Millisecond))
	if _, err := kubectl("", "get", "service", "web"); err != nil {
		return err
	}

	n.section("Reaching %s from the client on the same segment", vip)
	owner, err := curlUntilAnswered(ctx, l.Client(), vip, "", 30*time.Second)
	if err != nil {
		return err
	}
	n.show(fmt.Sprintf("ip netns exec %s curl http://%s/", lab.ClientNS, vip), owner)
	if mac, err := l.Client().Neighbor(vip); err == nil && mac != nil {
		n.say("the client's ARP entry for %s is %s, the MAC of %s's eth0", vip, mac, owner)
	}

	// The kubelet would restart a killed container within a second or two,
	// before the other speakers declare it dead (about 2 s with the shipped
	// memberlist timing): the address would then never move. So the node is
	// tainted and its speaker pod deleted, as if it had lost its speaker for
	// good, and given back afterwards.
	n.section("Killing %s's speaker (SIGKILL to its container through containerd; the node tainted so it stays down) and timing the failover", owner)
	ownerIndex := nodeIndex(l, owner)
	start = time.Now()
	if err := l.KillSpeaker(ownerIndex, syscall.SIGKILL); err != nil {
		return err
	}
	next, err := curlUntilAnswered(ctx, l.Client(), vip, owner, 60*time.Second)
	if err != nil {
		return err
	}
	n.say("%s now answers for %s: failover took %s", next, vip, time.Since(start).Round(10*time.Millisecond))
	if err := l.StartSpeaker(ownerIndex); err != nil {
		return err
	}
	n.say("%s's speaker is back (taint removed): the address returns to it, announced with gratuitous ARP", owner)

	n.section("Announcing a second pool over BGP to the router (AS %d, nodes in AS %d)", lab.RouterASN, lab.NodeASN)
	if _, err := kubectl(demoBGP, "apply", "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl(demoService("web-bgp", "\n  annotations:\n    metallb.io/address-pool: bgp-pool"), "apply", "-f", "-"); err != nil {
		return err
	}
	bgpVIP, _, err := waitForIP(ctx, l, "web-bgp")
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	route, err := l.Router().WaitForRoute(waitCtx, netip.PrefixFrom(bgpVIP, 32), true)
	cancel()
	if err != nil {
		return err
	}
	n.say("the router learned: %s", route)
	if out, err := l.Router().Exec(ctx, "ip", "route", "show", "proto", "bird"); err == nil {
		n.show(fmt.Sprintf("ip netns exec %s ip route show proto bird", lab.RouterNS), out)
	}
	answer, err := curlUntilAnswered(ctx, l.Ext(), bgpVIP, "", 30*time.Second)
	if err != nil {
		return err
	}
	n.show(fmt.Sprintf("ip netns exec %s curl http://%s/    (from behind the router)", lab.ExtNS, bgpVIP), answer)
	return nil
}

// applyWhenAdmitted applies manifests, retrying for up to a minute while
// the webhook (just installed) is not answering yet.
func applyWhenAdmitted(ctx context.Context, kubectl func(string, ...string) (string, error), manifests string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := kubectl(manifests, "apply", "-f", "-")
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Second)
	}
}

// nodeIndex is the index of the node called name, 0 if none is.
func nodeIndex(l *lab.Lab, name string) int {
	for _, node := range l.Nodes() {
		if node.Name == name {
			return node.Index
		}
	}
	return 0
}

// waitForIP waits up to 30 s for the Service's first IPv4 ingress IP.
func waitForIP(ctx context.Context, l *lab.Lab, name string) (netip.Addr, time.Duration, error) {
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		svc, err := l.KubeClient().CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return netip.Addr{}, 0, err
		}
		for _, ingress := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(ingress.IP); err == nil && ip.Is4() {
				return ip, time.Since(start), nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return netip.Addr{}, 0, fmt.Errorf("service default/%s got no IP within 30s; see the controller's log in .cache/lab/logs", name)
}

// curlUntilAnswered polls http://ip/ from host every 100 ms until a node
// other than not answers, and returns that node's name.
func curlUntilAnswered(ctx context.Context, host *lab.Host, ip netip.Addr, not string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error = errors.New("no answer")
	for time.Now().Before(deadline) {
		probe, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		answer, err := host.Curl(probe, ip)
		cancel()
		if err == nil && answer != not {
			return answer, nil
		}
		if err != nil {
			lastErr = err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("%s: no node other than %q answered within %s: %v", host.Name, not, timeout, lastErr)
}
