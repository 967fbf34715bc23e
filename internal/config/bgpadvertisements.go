package config

import (
	"slices"
)

// checkAggregation refuses an aggregation length out of bounds or shorter
// than every CIDR of one spec.addresses entry of a pool it advertises, as
// MetalLB does: a range whose CIDRs are a /31 and two /32s takes an
// aggregation length of 31, and its aggregate then covers an address
// outside the range (MetalLB accepts that; so does ironlb).
func (b *builder) checkAggregation(obj objectRef, adv *BGPAdvertisement, pools map[string]*Pool) {
	if adv.AggregationLength < 0 || adv.AggregationLength > 32 {
		b.add(obj, "spec.aggregationLength", "must be between 0 and 32, got %d", adv.AggregationLength)
		return
	}
	if adv.AggregationLengthV6 < 0 || adv.AggregationLengthV6 > 128 {
		b.add(obj, "spec.aggregationLengthV6", "must be between 0 and 128, got %d", adv.AggregationLengthV6)
		return
	}
	for _, name := range adv.Pools {
		for _, r := range pools[name].Ranges {
			field, length := "spec.aggregationLength", adv.AggregationLength
			if r.From().Is6() {
				field, length = "spec.aggregationLengthV6", adv.AggregationLengthV6
			}
			if shortest := shortestPrefixBits(r); length < shortest {
				b.add(obj, field, "%d is shorter than /%d, the shortest prefix of %s in IPAddressPool %s: the aggregate would cover more than the range",
					length, shortest, r, name)
			}
		}
	}
}

// checkServiceSelectorAggregation refuses aggregation with service
// selectors, as MetalLB does: an aggregate would carry the addresses of
// Services the selectors leave out.
func (b *builder) checkServiceSelectorAggregation(obj objectRef, adv *BGPAdvertisement) {
	if len(adv.ServiceSelectors) == 0 {
		return
	}
	if adv.AggregationLength != 32 {
		b.add(obj, "spec.aggregationLength", "serviceSelectors and aggregationLength are mutually exclusive: with serviceSelectors, leave it 32")
	}
	if adv.AggregationLengthV6 != 128 {
		b.add(obj, "spec.aggregationLengthV6", "serviceSelectors and aggregationLengthV6 are mutually exclusive: with serviceSelectors, leave it 128")
	}
}

// checkLocalPrefs refuses two advertisements that would send the same
// update with different localPref, as MetalLB does: they share a pool,
// neither has service selectors, their aggregation lengths are the same for
// a family of the pool, their peers overlap (no peers means all) and their
// nodes overlap. MetalLB compares the nodes the selectors select in the
// cluster; a configuration has no nodes, so ironlb refuses only selectors
// that certainly overlap (one selects every node, or both are written
// alike) and, where selectors only may overlap, plans the highest localPref
// per node.
func (b *builder) checkLocalPrefs(advs []*BGPAdvertisement, objs map[string]objectRef, pools map[string]*Pool) {
	for j, later := range advs {
		for _, earlier := range advs[:j] {
			if pool, clash := localPrefClash(earlier, later, pools); clash {
				b.add(objs[later.Name], "spec.localPref",
					"%d differs from localPref %d of BGPAdvertisement %s, which sends the same routes of IPAddressPool %s to the same peers from the same nodes",
					later.LocalPref, earlier.LocalPref, earlier.Name, pool)
				break
			}
		}
	}
}

// localPrefClash reports whether a and b give one route two localPrefs, and
// the pool of that route.
func localPrefClash(a, b *BGPAdvertisement, pools map[string]*Pool) (string, bool) {
	if a.LocalPref == b.LocalPref || len(a.ServiceSelectors) > 0 || len(b.ServiceSelectors) > 0 {
		return "", false
	}
	if len(a.Peers) > 0 && len(b.Peers) > 0 && !slices.ContainsFunc(a.Peers, func(p string) bool { return slices.Contains(b.Peers, p) }) {
		return "", false
	}
	if !shareNodes(a.NodeSelectors, b.NodeSelectors) {
		return "", false
	}
	for _, name := range a.Pools {
		if !slices.Contains(b.Pools, name) {
			continue
		}
		hasV4, hasV6 := poolFamilies(pools[name])
		sameV4 := a.AggregationLength == b.AggregationLength
		sameV6 := a.AggregationLengthV6 == b.AggregationLengthV6
		if hasV4 && sameV4 || hasV6 && sameV6 {
			return name, true
		}
	}
	return "", false
}

// poolFamilies reports which IP families a pool holds.
func poolFamilies(p *Pool) (v4, v6 bool) {
	for _, r := range p.Ranges {
		v4 = v4 || r.From().Is4()
		v6 = v6 || r.From().Is6()
	}
	return v4, v6
}
