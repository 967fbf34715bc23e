package operations

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// controllerStatus runs `controller status` against the lab and returns its
// table as rows of columns, by SERVICE.
func controllerStatus(ctx context.Context, l *lab.Lab) (map[string][]string, string, error) {
	cmd := exec.CommandContext(ctx, l.ControllerBinary(), "status", "--kubeconfig", l.Kubeconfig(), "--namespace", lab.IronLBNamespace)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("controller status: %w\n%s", err, out)
	}
	columns := regexp.MustCompile(`\s{2,}`)
	rows := map[string][]string{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	header := -1
	for i, line := range lines {
		if strings.HasPrefix(line, "SERVICE") {
			header = i
			continue
		}
		if header >= 0 {
			cols := columns.Split(strings.TrimSpace(line), -1)
			rows[cols[0]] = cols
		}
	}
	if header < 0 {
		return nil, string(out), fmt.Errorf("no table in:\n%s", out)
	}
	return rows, string(out), nil
}

// TestStatusCommand: `controller status`, run with the lab's kubeconfig,
// prints each LoadBalancer Service with its IP, pool, protocol and who
// announces it: the node that owns the address in layer 2 (the one that
// answers the client's ARP request), and every node with its BGP peer in
// BGP mode.
func TestStatusCommand(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	applyConfig(t, l, append(l2Pool("ops-status", "172.30.0.235/32"), bgpPeer, bgpPool, bgpAdvertisement)...)
	l2IP := waitIP(t, l, ipv4Service(t, l, "ops-status-l2", "ops-status"))
	bgpIP := waitIP(t, l, ipv4Service(t, l, "ops-status-bgp", "ops-bgp"))
	// The owner is the node whose MAC address answers the client's ARP
	// request (with externalTrafficPolicy Cluster, kube-proxy passes HTTP
	// requests on to any node's backend).
	var owner string
	lab.Eventually(t, 30*time.Second, "the client reaches "+l2IP.String(), func() error {
		if _, err := l.Client().Curl(ctx, l2IP); err != nil {
			return err
		}
		mac, err := l.Client().Arping(ctx, l2IP)
		if err != nil {
			return err
		}
		for _, n := range l.Nodes() {
			if own, err := n.MAC(); err == nil && own.String() == mac.String() {
				owner = n.Name
				return nil
			}
		}
		return fmt.Errorf("%s answered by %s, no lab node", l2IP, mac)
	})

	var bgpAnnouncers []string
	for i := 1; i <= l.NodeCount(); i++ {
		bgpAnnouncers = append(bgpAnnouncers, lab.NodeName(i)+" → ops-router")
	}
	// The interfaces appear in parentheses when the L2Advertisement limits
	// them; this one does not. Neither has a problem or a node that may not
	// announce it.
	want := map[string][]string{
		"default/ops-status-l2":  {"default/ops-status-l2", l2IP.String(), "ops-status", "layer2", owner, "-", "-"},
		"default/ops-status-bgp": {"default/ops-status-bgp", bgpIP.String(), "ops-bgp", "bgp", strings.Join(bgpAnnouncers, "; "), "-", "-"},
	}
	var last string
	lab.Eventually(t, 30*time.Second, "controller status shows both Services announced", func() error {
		rows, out, err := controllerStatus(ctx, l)
		last = out
		if err != nil {
			return err
		}
		for service, cols := range want {
			if got := strings.Join(rows[service], " | "); got != strings.Join(cols, " | ") {
				return fmt.Errorf("row %q, want %q", got, strings.Join(cols, " | "))
			}
		}
		return nil
	})
	t.Logf("controller status:\n%s", last)
}
