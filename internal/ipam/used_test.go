package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestUsedSetRuns checks run merging and splitting, including across the
// .255/.0 addresses an avoidBuggyIPs pool skips and at the end of the
// address space.
func TestUsedSetRuns(t *testing.T) {
	tests := []struct {
		name       string
		avoidBuggy bool
		add        string
		remove     string
		want       []string // runs as "first-last"
	}{
		{name: "adjacent addresses merge", add: "10.0.0.1,10.0.0.3,10.0.0.2", want: []string{"10.0.0.1-10.0.0.3"}},
		{name: "a gap keeps runs apart", add: "10.0.0.1,10.0.0.3", want: []string{"10.0.0.1-10.0.0.1", "10.0.0.3-10.0.0.3"}},
		{name: "removal splits a run", add: "10.0.0.1,10.0.0.2,10.0.0.3", remove: "10.0.0.2",
			want: []string{"10.0.0.1-10.0.0.1", "10.0.0.3-10.0.0.3"}},
		{name: "removal at the ends shrinks a run", add: "10.0.0.1,10.0.0.2,10.0.0.3", remove: "10.0.0.1,10.0.0.3",
			want: []string{"10.0.0.2-10.0.0.2"}},
		{name: "runs step over .255 and .0 when avoiding them", avoidBuggy: true,
			add: "10.0.0.254,10.0.1.1", want: []string{"10.0.0.254-10.0.1.1"}},
		{name: "splitting steps over .255 and .0 too", avoidBuggy: true,
			add: "10.0.0.253,10.0.0.254,10.0.1.1,10.0.1.2", remove: "10.0.0.254",
			want: []string{"10.0.0.253-10.0.0.253", "10.0.1.1-10.0.1.2"}},
		{name: "without avoidance .255 and .0 are ordinary", add: "10.0.0.254,10.0.1.1",
			want: []string{"10.0.0.254-10.0.0.254", "10.0.1.1-10.0.1.1"}},
		{name: "end of the IPv4 space", add: "255.255.255.255,255.255.255.254",
			want: []string{"255.255.255.254-255.255.255.255"}},
		{name: "start of the IPv4 space", add: "0.0.0.1,0.0.0.0", remove: "0.0.0.1",
			want: []string{"0.0.0.0-0.0.0.0"}},
		{name: "families never merge", add: "255.255.255.255,::",
			want: []string{"255.255.255.255-255.255.255.255", "::-::"}},
		{name: "end of the IPv6 space", add: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
			want: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newUsedSet(tt.avoidBuggy)
			for _, ip := range mustIPs(tt.add) {
				s.add(ip)
			}
			if tt.remove != "" {
				for _, ip := range mustIPs(tt.remove) {
					s.remove(ip)
				}
			}
			var got []string
			s.runs.Ascend(func(r run) bool {
				got = append(got, r.first.String()+"-"+r.last.String())
				return true
			})
			if len(got) != len(tt.want) {
				t.Fatalf("runs = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("runs = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestUsedSetLowestFree compares lowestFree with a brute-force scan over
// small ranges under random additions and removals.
func TestUsedSetLowestFree(t *testing.T) {
	rng := mustRange("10.0.0.250-10.0.2.5")
	for _, avoid := range []bool{false, true} {
		r := rand.New(rand.NewPCG(1, 2))
		s := newUsedSet(avoid)
		held := map[netip.Addr]bool{}
		var all []netip.Addr
		for ip := rng.From(); rng.Contains(ip); ip = ip.Next() {
			if s.usable(ip) {
				all = append(all, ip)
			}
		}
		for i := 0; i < 5000; i++ {
			ip := all[r.IntN(len(all))]
			if held[ip] {
				s.remove(ip)
				delete(held, ip)
			} else {
				s.add(ip)
				held[ip] = true
			}
			var want netip.Addr
			for _, c := range all {
				if !held[c] {
					want = c
					break
				}
			}
			got, ok := s.lowestFree(rng)
			if ok != want.IsValid() || got != want {
				t.Fatalf("avoid=%v step %d: lowestFree = %v, %v; want %v", avoid, i, got, ok, want)
			}
		}
	}
}
