package speaker

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
)

// claimsPollInterval is how often a speaker that answers addresses without
// quorum reads the ServiceL2Status objects, to learn which of its addresses
// the majority took over.
const claimsPollInterval = 500 * time.Millisecond

// claimedElsewhere returns the Services ("namespace/name") whose
// ServiceL2Status objects name another node than self: the Services another
// speaker announces in layer 2.
func claimedElsewhere(statuses []v1beta1.ServiceL2Status, self string) map[string]bool {
	out := map[string]bool{}
	for _, st := range statuses {
		if st.Status.Node != "" && st.Status.Node != self {
			out[st.Status.ServiceNamespace+"/"+st.Status.ServiceName] = true
		}
	}
	return out
}

// claims holds what the plan's Snapshot.ClaimedElsewhere says; cutOff tells
// the poller whether to read them.
type claims struct {
	mu       sync.Mutex
	services map[string]bool
	// cutOff is set while the last plan answered addresses without quorum.
	cutOff bool
}

// snapshot returns the Services claimed elsewhere, nil when none.
func (c *claims) snapshot() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.services
}

// setCutOff records whether the last plan answered addresses without quorum.
func (c *claims) setCutOff(cutOff bool) {
	c.mu.Lock()
	c.cutOff = cutOff
	c.mu.Unlock()
}

// update stores services (nil when not cut off) and reports whether they
// changed.
func (c *claims) update(services map[string]bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if maps.Equal(c.services, services) {
		return false
	}
	c.services = services
	return true
}

func (c *claims) isCutOff() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cutOff
}

// followClaims reads, every claimsPollInterval while this speaker answers
// addresses without quorum, which Services other nodes announce, and asks
// for a plan when that changes: this speaker then gives up the addresses
// the majority took over (election.MayAnswer). With quorum it reads
// nothing and the plan sees no claims.
func (s *Speaker) followClaims(ctx context.Context) {
	ticker := time.NewTicker(claimsPollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		var services map[string]bool
		if s.claims.isCutOff() {
			callCtx, cancel := context.WithTimeout(ctx, loopCallTimeout)
			var list v1beta1.ServiceL2StatusList
			err := s.clients.MetalLBv1beta1.Get().Namespace(s.opts.Namespace).Resource("servicel2statuses").Do(callCtx).Into(&list)
			cancel()
			if err != nil {
				s.log.Warn("reading which addresses other nodes announce", "err", err)
				continue
			}
			services = claimedElsewhere(list.Items, s.opts.NodeName)
		}
		if s.claims.update(services) {
			s.signal(true)
		}
	}
}
