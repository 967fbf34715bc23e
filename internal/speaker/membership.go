package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/members"
)

// maintenanceInterval is how often nodes that are not members are
// considered for a join (members.JoinBackoff decides which are due) and
// this node's gossiped interfaces refreshed.
const maintenanceInterval = time.Second

// startMembers joins the speakers' memberlist cluster, gossiping this node's
// interfaces, and keeps joining nodes as they appear. Once it returns, other
// speakers may elect this node: call it only when the speaker can answer.
func (s *Speaker) startMembers(ctx context.Context, self *corev1.Node) error {
	s.installation = installationOf(s.opts.PodName, s.listSpeakerPods())
	if s.opts.PodName != "" && s.installation == "" {
		s.log.Warn("this speaker's pod or its DaemonSet is not known: the memberlist keys saved on this node are not bound to this installation", "pod", s.opts.PodName)
	}
	keys, data, err := s.initialKeys(ctx)
	if err != nil {
		return err
	}
	if err := saveKeys(s.opts.StateDir, s.installation, data); err != nil {
		s.log.Warn("the memberlist keys are not kept for the next restart", "err", err)
	}
	bind := s.opts.MemberlistBind
	if !bind.IsValid() {
		addrs := internalIPs(self)
		if len(addrs) == 0 {
			return fmt.Errorf("node %s has no InternalIP to bind memberlist to: set --memberlist-bind-addr", self.Name)
		}
		bind = addrs[0]
	}
	cfg := s.opts.MemberlistTiming
	cfg.NodeName = s.opts.NodeName
	cfg.BindAddr = bind
	cfg.Port = s.opts.MemberlistPort
	cfg.Keys = keys
	cfg.OnDecryptFailure = s.opts.Metrics.Speaker.MemberlistDecryptFailed
	cfg.Meta = s.interfacesMeta()
	cfg.Logger = s.log // members tags its lines component=memberlist
	s.members, err = members.New(cfg)
	if err != nil {
		return fmt.Errorf("memberlist on %s:%d: %w", bind, s.opts.MemberlistPort, err)
	}
	s.opts.Metrics.Speaker.SetMemberlistKeys(keys)
	if s.opts.MemberlistSecretDir != "" {
		go s.followKeys(ctx, self)
	}
	backoff := members.NewJoinBackoff()
	s.joinNodes(backoff)
	go s.followMembers(ctx)
	go s.maintainMembership(ctx, backoff)
	go s.followClaims(ctx)
	return nil
}

// A member set that grew is planned only once it stopped changing for
// joinSettle, at most maxJoinSettle after the first change not planned: a
// speaker rejoining after a partition learns the members one by one, and
// planning in between would elect it for addresses of a member it has not
// seen yet, a second answerer for a moment. A member lost is planned at once
// (that is a failover).
const (
	joinSettle    = 50 * time.Millisecond
	maxJoinSettle = 500 * time.Millisecond
	// healthPollInterval is how often the local health score is read.
	healthPollInterval = 100 * time.Millisecond
)

// settleWait returns how long to wait before planning a change of the
// member set: lost says a member left, sinceFirst how long ago the first
// change not yet planned came.
func settleWait(lost bool, sinceFirst time.Duration) time.Duration {
	if lost {
		return 0
	}
	return max(0, min(joinSettle, maxJoinSettle-sinceFirst))
}

// followMembers asks for a plan, and for every owned address to be
// announced again, after each change of the member set and each accusation
// against this node.
func (s *Speaker) followMembers(ctx context.Context) {
	settle := time.NewTimer(0)
	<-settle.C
	var firstUnplanned time.Time
	// The quorum depends on the local health score, which memberlist does
	// not announce: a change between 0 and above is polled.
	health := time.NewTicker(healthPollInterval)
	defer health.Stop()
	degraded := false
	plan := func() {
		settle.Stop()
		firstUnplanned = time.Time{}
		s.signal(true)
	}
	for {
		select {
		case <-ctx.Done():
			settle.Stop()
			return
		case live := <-s.members.Changes():
			s.pendingMu.Lock()
			lost := len(live) < s.lastMembers
			s.lastMembers = len(live)
			s.reannounce = true
			s.pendingMu.Unlock()
			s.opts.Metrics.Speaker.SetMembers(len(live))
			now := time.Now()
			if firstUnplanned.IsZero() {
				firstUnplanned = now
			}
			if wait := settleWait(lost, now.Sub(firstUnplanned)); wait > 0 {
				settle.Reset(wait)
			} else {
				plan()
			}
		case <-settle.C:
			firstUnplanned = time.Time{}
			s.signal(true)
		case <-health.C:
			if now := s.members.HealthScore() > 0; now != degraded {
				degraded = now
				s.signal(true)
			}
		case <-s.members.Accused():
			s.log.Warn("the other speakers declared this node suspect or dead: announcing its addresses again")
			s.pendingMu.Lock()
			s.reannounce = true
			s.pendingMu.Unlock()
			s.signal(true)
		}
	}
}

// maintainMembership joins nodes that appeared (or whose speaker did not
// answer, with backoff) and refreshes this node's gossiped interfaces. A
// join attempt runs in the background: one waiting for an answer from a
// cut-off node (up to the stream timeout) does not delay the next.
func (s *Speaker) maintainMembership(ctx context.Context, backoff *members.JoinBackoff) {
	ticker := time.NewTicker(maintenanceInterval)
	defer ticker.Stop()
	meta := s.interfacesMeta()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		go s.joinNodes(backoff)
		if current := s.interfacesMeta(); !slices.Equal(current, meta) {
			if err := s.members.SetMeta(current); err != nil {
				s.log.Warn("gossiping interfaces", "err", err)
				continue
			}
			meta = current
		}
	}
}

func (s *Speaker) interfacesMeta() []byte {
	links := s.announcer.CurrentLinks()
	if links == nil { // not listed yet: gossip nothing rather than no interfaces
		return nil
	}
	meta, err := encodeInterfaces(links, members.MaxMetaSize)
	if err != nil {
		s.log.Warn("interfaces not gossiped: other speakers assume this node reaches every address", "err", err)
	}
	return meta
}

// joinNodes contacts the speakers of the nodes that are not members and
// whose backoff ran out, at their InternalIPs, in parallel.
func (s *Speaker) joinNodes(backoff *members.JoinBackoff) {
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	peers := peersOf(nodes, s.opts.NodeName, s.opts.MemberlistPort, nodesWithRunningSpeaker(s.listSpeakerPods()))
	due := backoff.Due(time.Now(), s.members.Members(), peers)
	if len(due) == 0 {
		return
	}
	failed := s.members.JoinPeers(due)
	for _, p := range due {
		backoff.Record(p.Name, failed[p.Name])
		if err := failed[p.Name]; err != nil {
			s.log.Debug("joining speaker", "peer", p.Name, "err", err)
		}
	}
}

// peersOf returns the memberlist addresses of the speakers of every node
// but self: one per InternalIP; running are the nodes with a Ready speaker
// pod.
func peersOf(nodes []*corev1.Node, self string, port int, running map[string]bool) []members.Peer {
	var peers []members.Peer
	for _, node := range nodes {
		if node.Name == self {
			continue
		}
		p := members.Peer{Name: node.Name, Running: running[node.Name]}
		for _, ip := range internalIPs(node) {
			p.Addrs = append(p.Addrs, netip.AddrPortFrom(ip, uint16(port)))
		}
		peers = append(peers, p)
	}
	return peers
}
