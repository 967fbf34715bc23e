package bgp

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ironlb/ironlb/internal/bgpspec"
)

// serviceRoutes returns n /32 service routes from 10.96.0.0/12 (distinct addresses),
// each advertised to the given peers with a community.
func serviceRoutes(n int, peers ...string) []route {
	routes := make([]route, n)
	base := netip.MustParseAddr("10.96.0.0").As4()
	for i := range n {
		a := base
		a[1] += byte(i >> 16)
		a[2] += byte(i >> 8)
		a[3] += byte(i)
		routes[i] = route{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 32), Peers: peers, Communities: []uint32{65000<<16 | 100}}
	}
	return routes
}

// BenchmarkSetRoutes measures applying n new routes to one established peer: the
// SetRoutes call (RIB insertion and update generation, reported per op and per route)
// and the time until the router holds all n prefixes (delivered-ms).
func BenchmarkSetRoutes(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			router := newTestRouter(b, "127.0.0.2", 64500, routerOptions{})
			s := newTestSpeaker(b, nil)
			ctx := context.Background()
			if err := s.SetPeers(ctx, []bgpspec.Peer{router.peer("r")}); err != nil {
				b.Fatal(err)
			}
			eventually(b, 15*time.Second, func() (bool, string) { return router.established(), "session not up" })
			routes := serviceRoutes(n, "r")
			var delivered time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := s.SetRoutes(ctx, unfold(routes)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				eventually(b, time.Minute, func() (bool, string) {
					got := router.destinations()
					return got == n, fmt.Sprintf("router has %d of %d prefixes", got, n)
				})
				delivered += time.Since(start)
				if err := s.SetRoutes(ctx, nil); err != nil {
					b.Fatal(err)
				}
				eventually(b, time.Minute, func() (bool, string) { return router.destinations() == 0, "withdrawals not delivered" })
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/route")
			b.ReportMetric(float64(delivered.Milliseconds())/float64(b.N), "delivered-ms")
		})
	}
}

// destinations returns how many IPv4 prefixes the router holds.
func (r *testRouter) destinations() int {
	resp, err := r.srv.GetTable(context.Background(), &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: familyIPv4})
	if err != nil {
		r.t.Fatalf("router %s: table: %v", r.addr, err)
	}
	return int(resp.NumDestination)
}

// BenchmarkSpeakerMemory measures the memory the speaker uses for n services advertised
// to two peers (the common two-router set-up): Go heap in use and process RSS growth
// after the routes are applied. The peers are unreachable so that only the speaker's
// own state is counted. Run it alone with -benchtime 1x: RSS is process-wide.
func BenchmarkSpeakerMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				heapBefore, rssBefore := memoryInUse(b)
				s := newTestSpeaker(b, nil)
				var peers []bgpspec.Peer
				for i, addr := range []string{"127.0.0.8", "127.0.0.9"} {
					peers = append(peers, bgpspec.Peer{
						Name: fmt.Sprintf("r%d", i), MyASN: speakerASN, PeerASN: 64500,
						Address: netip.MustParseAddr(addr), Port: freePort(b, netip.MustParseAddr(addr)), ConnectTime: time.Minute,
					})
				}
				if err := s.SetPeers(ctx, peers); err != nil {
					b.Fatal(err)
				}
				if err := s.SetRoutes(ctx, unfold(serviceRoutes(n, "r0", "r1"))); err != nil {
					b.Fatal(err)
				}
				heapAfter, rssAfter := memoryInUse(b)
				// Signed: in a process that ran other benchmarks first, the RSS may shrink.
				b.ReportMetric((float64(heapAfter)-float64(heapBefore))/(1<<20), "heap-MiB")
				b.ReportMetric((float64(rssAfter)-float64(rssBefore))/(1<<20), "rss-growth-MiB")
				b.ReportMetric(float64(rssAfter)/(1<<20), "rss-MiB")
				if err := s.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// memoryInUse returns the Go heap in use and the process RSS, after a GC.
func memoryInUse(tb testing.TB) (heap, rss uint64) {
	tb.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return m.HeapInuse, kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0, 0
}
