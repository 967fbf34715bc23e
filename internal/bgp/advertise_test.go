package bgp

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// The advertiser sends on each interface given at once, leaves running
// ones alone when the set changes, and stop ends them all.
func TestRouterAdvertiser(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]int{}
	a := newRouterAdvertiser(discardLogger(), func(iface string) error {
		mu.Lock()
		defer mu.Unlock()
		sent[iface]++
		return nil
	})
	sentTo := func(iface string) int {
		mu.Lock()
		defer mu.Unlock()
		return sent[iface]
	}
	a.set([]string{"eth1", "eth2"})
	eventually(t, 10*time.Second, func() (bool, string) {
		return sentTo("eth1") == 1 && sentTo("eth2") == 1, "no advertisement on each interface yet"
	})
	a.set([]string{"eth1", "eth3"})
	eventually(t, 10*time.Second, func() (bool, string) { return sentTo("eth3") == 1, "none on eth3 yet" })
	a.mu.Lock()
	running := slices.Sorted(maps.Keys(a.links))
	a.mu.Unlock()
	if !slices.Equal(running, []string{"eth1", "eth3"}) {
		t.Errorf("advertising on %v, want eth1 and eth3", running)
	}
	a.stop()
	// eth1 was not started again by the second set (its next one is raInterval away).
	if got := []int{sentTo("eth1"), sentTo("eth2"), sentTo("eth3")}; !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("advertisements sent on eth1, eth2, eth3: %v, want one each", got)
	}
	if len(a.links) != 0 {
		t.Errorf("still advertising on %v after stop", a.links)
	}
}
