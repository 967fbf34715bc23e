package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// MemberCount returns the number of live memberlist members node i's
// speaker reports (its ironlb_memberlist_members gauge, read on the node's
// loopback metrics port).
func (l *Lab) MemberCount(ctx context.Context, i int) (int, error) {
	body, err := l.Node(i).Exec(ctx, "curl", "-sf", "--max-time", "2", "http://127.0.0.1:7472/metrics")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		if value, ok := strings.CutPrefix(line, "ironlb_memberlist_members "); ok {
			var n int
			if _, err := fmt.Sscan(value, &n); err != nil {
				return 0, fmt.Errorf("%s: %q: %w", l.Node(i).Name, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no ironlb_memberlist_members in /metrics", l.Node(i).Name)
}

// EverySpeakerSeesAll reports nil once every node's speaker sees every
// node's speaker as a live member.
func (l *Lab) EverySpeakerSeesAll(ctx context.Context) error {
	for _, n := range l.Nodes() {
		got, err := l.MemberCount(ctx, n.Index)
		if err != nil {
			return err
		}
		if got != l.NodeCount() {
			return fmt.Errorf("%s sees %d members, want %d", n.Name, got, l.NodeCount())
		}
	}
	return nil
}

// BlockMemberlist inserts (-I) or deletes (-D) the rules dropping memberlist
// traffic (port 7946), both protocols and directions, in node i's
// namespace; inserted rules are deleted when the test ends if the test did
// not.
func (l *Lab) BlockMemberlist(t testing.TB, i int, op string) {
	t.Helper()
	var rules [][]string
	for _, proto := range []string{"tcp", "udp"} {
		rules = append(rules, []string{"INPUT", "-p", proto, "--dport", "7946", "-j", "DROP"},
			[]string{"OUTPUT", "-p", proto, "--dport", "7946", "-j", "DROP"})
	}
	for _, rule := range rules {
		if _, err := l.Node(i).Exec(context.Background(), "iptables", append([]string{op}, rule...)...); err != nil {
			t.Fatalf("iptables %s %v on %s: %v", op, rule, l.Node(i).Name, err)
		}
	}
	if op == "-I" {
		t.Cleanup(func() {
			for _, rule := range rules {
				l.Node(i).Exec(context.Background(), "iptables", append([]string{"-D"}, rule...)...) //nolint:errcheck // gone if the test deleted it
			}
		})
	}
}
