package speaker

import (
	"fmt"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
)

// maxBGPSettle bounds how long a starting speaker waits for its BGP
// sessions before it reports Ready anyway: a peer that never answers must
// not keep the speaker unready (and a rolling update stuck) for good.
const maxBGPSettle = 30 * time.Second

// bgpSettleCheck is how often a starting speaker looks at its sessions.
const bgpSettleCheck = 200 * time.Millisecond

// bgpSettled says whether a starting speaker has handed its routes to its
// BGP peers, so that it may report Ready: during a rolling update the next
// node's speaker stops (and withdraws its routes) as soon as this one is
// Ready, and if this node's routes had not reached the router yet, the
// router would for a moment have no path at all to a Service every node
// announces. Settled means: every session of the node's peers is
// established and, if it has prefixes to advertise, has sent an UPDATE —
// or waited reached maxBGPSettle. statuses are the sessions after the
// first plan was applied (none when the node has no BGP peer).
func bgpSettled(statuses []bgp.PeerStatus, waited time.Duration) (bool, string) {
	for _, st := range statuses {
		pending := ""
		switch {
		case !st.Established():
			pending = fmt.Sprintf("BGP session %s is %s", st.Name, st.State)
		case st.AdvertisedPrefixes > 0 && st.UpdatesSent == 0:
			pending = fmt.Sprintf("BGP session %s has not sent its routes yet", st.Name)
		}
		if pending == "" {
			continue
		}
		if waited >= maxBGPSettle {
			return true, fmt.Sprintf("%s after %s; ready anyway", pending, maxBGPSettle)
		}
		return false, pending
	}
	return true, ""
}
