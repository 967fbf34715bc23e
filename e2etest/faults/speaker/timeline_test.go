package speaker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironlb/ironlb/e2etest/lab"
)

// probeInterval is how often the timeline's client asks for the address.
const probeInterval = 100 * time.Millisecond

// timeline records who answers ARP for one address, as the client sees it:
// an ARP request every probeInterval (Debian's arping) and a capture of
// every reply and gratuitous ARP that arrives.
type timeline struct {
	l       *lab.Lab
	ip      netip.Addr
	start   time.Time
	capture *lab.Capture
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// startTimeline starts recording who answers ip; stop it with stop.
func startTimeline(tb testing.TB, l *lab.Lab, ip netip.Addr) *timeline {
	tb.Helper()
	capture, err := l.Client().CaptureNeighbors()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tl := &timeline{l: l, ip: ip, start: time.Now(), capture: capture, cancel: cancel}
	tl.done.Add(1)
	go func() {
		defer tl.done.Done()
		// Runs until cancelled; arping exits non-zero when killed.
		l.Client().Exec(ctx, "arping", "-i", lab.HostInterface, "-q", "-W", fmt.Sprint(probeInterval.Seconds()), ip.String()) //nolint:errcheck // killed by cancel
	}()
	tb.Cleanup(tl.stop)
	return tl
}

// stop ends the probes and the capture; it may be called more than once.
func (tl *timeline) stop() {
	tl.cancel()
	tl.done.Wait()
	tl.capture.Close()
}

// answer is one frame telling the client where the address is.
type answer struct {
	at   time.Time
	node string
	// gratuitous is true for a gratuitous ARP (an announcement), false for a
	// reply to the client's request.
	gratuitous bool
}

// answers returns the frames for the address so far, oldest first.
func (tl *timeline) answers() []answer {
	var out []answer
	for _, f := range tl.capture.Frames() {
		if f.Announces(tl.ip) {
			out = append(out, answer{at: f.Time, node: nodeOfMAC(tl.l, f.Source), gratuitous: f.Kind == lab.GratuitousARP})
		}
	}
	return out
}

// summary is what a timeline saw between two moments.
type summary struct {
	// byNode is, per node that answered, its first and last frame and
	// their count.
	byNode map[string]span
	// twoAnswerers is the total length of the probe intervals in which
	// frames from two or more nodes arrived; unanswered of those in which
	// none did.
	twoAnswerers, unanswered time.Duration
	// firstTwo and lastTwo bound the intervals with two answerers.
	firstTwo, lastTwo time.Time
}

// span is one node's answers in a summary.
type span struct {
	first, last time.Time
	frames      int
	gratuitous  int
}

// summarize groups the answers between from and to into probe intervals.
func (tl *timeline) summarize(from, to time.Time) summary {
	s := summary{byNode: map[string]span{}}
	slots := int(to.Sub(from)/probeInterval) + 1
	nodesIn := make([]map[string]bool, slots)
	for _, a := range tl.answers() {
		if a.at.Before(from) || a.at.After(to) {
			continue
		}
		sp := s.byNode[a.node]
		if sp.frames == 0 {
			sp.first = a.at
		}
		sp.last = a.at
		sp.frames++
		if a.gratuitous {
			sp.gratuitous++
		}
		s.byNode[a.node] = sp
		i := int(a.at.Sub(from) / probeInterval)
		if nodesIn[i] == nil {
			nodesIn[i] = map[string]bool{}
		}
		nodesIn[i][a.node] = true
	}
	for i, nodes := range nodesIn {
		at := from.Add(time.Duration(i) * probeInterval)
		switch {
		case len(nodes) == 0:
			s.unanswered += probeInterval
		case len(nodes) > 1:
			s.twoAnswerers += probeInterval
			if s.firstTwo.IsZero() {
				s.firstTwo = at
			}
			s.lastTwo = at.Add(probeInterval)
		}
	}
	return s
}

// others returns the nodes other than owner that answered, sorted.
func (s summary) others(owner string) []string {
	var out []string
	for node := range s.byNode {
		if node != owner {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

// describe renders the summary relative to t0 for the test log.
func (s summary) describe(t0 time.Time) string {
	var b strings.Builder
	nodes := make([]string, 0, len(s.byNode))
	for node := range s.byNode {
		nodes = append(nodes, node)
	}
	slices.Sort(nodes)
	for _, node := range nodes {
		sp := s.byNode[node]
		fmt.Fprintf(&b, "%s answered %d times (%d gratuitous) from %+.2fs to %+.2fs; ", node, sp.frames, sp.gratuitous,
			sp.first.Sub(t0).Seconds(), sp.last.Sub(t0).Seconds())
	}
	fmt.Fprintf(&b, "two answerers %v", s.twoAnswerers)
	if s.twoAnswerers > 0 {
		fmt.Fprintf(&b, " (%+.2fs to %+.2fs)", s.firstTwo.Sub(t0).Seconds(), s.lastTwo.Sub(t0).Seconds())
	}
	fmt.Fprintf(&b, "; unanswered %v (of %d ms probe intervals)", s.unanswered, probeInterval.Milliseconds())
	return b.String()
}

// neighborEntries makes the client and the router resolve ip through their
// kernels (an HTTP request), so that each holds a neighbour entry a
// gratuitous ARP then updates.
func neighborEntries(ctx context.Context, l *lab.Lab, ip netip.Addr) {
	for _, h := range []*lab.Host{l.Client(), &l.Router().Host} {
		h.Curl(ctx, ip) //nolint:errcheck // only the ARP resolution matters
	}
}

// neighborsOf returns the nodes that the client's and the router's
// neighbour entries for ip name ("" for no entry).
func neighborsOf(l *lab.Lab, ip netip.Addr) (client, router string, err error) {
	name := func(h *lab.Host) (string, error) {
		mac, err := h.Neighbor(ip)
		if err != nil || mac == nil {
			return "", err
		}
		return nodeOfMAC(l, net.HardwareAddr(mac)), nil
	}
	if client, err = name(l.Client()); err != nil {
		return "", "", err
	}
	router, err = name(&l.Router().Host)
	return client, router, err
}
