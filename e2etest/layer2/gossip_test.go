package layer2

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/e2etest/lab"
	"github.com/ironlb/ironlb/internal/k8s"
	"github.com/ironlb/ironlb/internal/members"
)

// TestWrongKeyCannotSwayElection: a memberlist member started on the client
// with another key, named like the owner of a Service, can neither join the
// speakers nor, by leaving, make them give the owner's IPs away. The same
// member with the Secret's key does join: the control that shows the
// speakers were within its reach.
func TestWrongKeyCannotSwayElection(t *testing.T) {
	l := setup(t)
	ctx := t.Context()
	svc := createService(t, "gossip", nil)
	owner := waitOwner(t, l, svc, "the Service has an owner", anyNode)
	waitMembers(t, l)
	var peers []netip.AddrPort
	for _, n := range l.Nodes() {
		peers = append(peers, netip.AddrPortFrom(n.IPv4, members.DefaultPort))
	}

	secret, err := l.KubeClient().CoreV1().Secrets(lab.IronLBNamespace).Get(ctx, k8s.MemberlistSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := members.DeriveKey(secret.Data[k8s.MemberlistSecretKey])
	if err != nil {
		t.Fatal(err)
	}
	visitor := startClientMember(t, l, "l2e2e-visitor", key)
	if n, err := joinFromClient(l, visitor, peers); err != nil || n == 0 {
		t.Fatalf("a member with the Secret's key did not join: %d joined, %v", n, err)
	}
	lab.Eventually(t, 10*time.Second, "the speakers count the visitor", func() error {
		return allSeeMembers(l, l.NodeCount()+1)
	})
	if err := visitor.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	visitor.Shutdown()
	waitMembers(t, l)

	wrongKey, err := members.DeriveKey([]byte("not the memberlist Secret's key"))
	if err != nil {
		t.Fatal(err)
	}
	rogue := startClientMember(t, l, owner, wrongKey)
	start := time.Now()
	n, err := joinFromClient(l, rogue, peers)
	if err == nil || n > 0 {
		t.Errorf("a member with another key joined %d speakers (err %v)", n, err)
	}
	t.Logf("a member with another key, named %s: join refused in %v: %v", owner, time.Since(start).Round(time.Millisecond), err)
	if err := rogue.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	rogue.Shutdown()
	for range 4 {
		time.Sleep(250 * time.Millisecond)
		if err := allSeeMembers(l, l.NodeCount()); err != nil {
			t.Fatal(err)
		}
		if err := checkOwner(ctx, l, svc, owner); err != nil {
			t.Fatalf("after the rogue member: %v", err)
		}
	}
}

// startClientMember starts a memberlist member named name in the client's
// namespace, on the memberlist port of the client's IPv4 address, gossiping
// with key; it is shut down when the test ends.
func startClientMember(t *testing.T, l *lab.Lab, name string, key []byte) *members.List {
	t.Helper()
	var m *members.List
	err := l.Client().NS.Do(func() error {
		var err error
		m, err = members.New(members.Config{NodeName: name, BindAddr: l.Client().IPv4, Port: members.DefaultPort, Keys: members.Keys{Primary: key}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// joinFromClient joins peers from the client's namespace.
func joinFromClient(l *lab.Lab, m *members.List, peers []netip.AddrPort) (int, error) {
	var n int
	err := l.Client().NS.Do(func() error {
		var err error
		n, err = m.Join(peers)
		return err
	})
	return n, err
}

// allSeeMembers checks that every speaker counts want live members.
func allSeeMembers(l *lab.Lab, want int) error {
	for _, n := range l.Nodes() {
		got, err := l.MemberCount(context.Background(), n.Index)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s sees %d members, want %d", n.Name, got, want)
		}
	}
	return nil
}
