package config

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/api/v1beta1"
	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

// Resources is everything a configuration is built from: the metallb.io
// objects of the controller's namespace and the Secrets they refer to.
type Resources struct {
	Pools             []v1beta1.IPAddressPool
	L2Advertisements  []v1beta1.L2Advertisement
	BGPAdvertisements []v1beta1.BGPAdvertisement
	Communities       []v1beta1.Community
	BFDProfiles       []v1beta1.BFDProfile
	Peers             []v1beta2.BGPPeer
	// Secrets referenced by BGPPeer passwordSecret, by "namespace/name".
	Secrets map[string]*corev1.Secret
}

// Kinds named in errors.
const (
	KindIPAddressPool    = "IPAddressPool"
	KindL2Advertisement  = "L2Advertisement"
	KindBGPAdvertisement = "BGPAdvertisement"
	KindCommunity        = "Community"
	KindBFDProfile       = "BFDProfile"
	KindBGPPeer          = "BGPPeer"
)

// BGP timer defaults and limits (RFC 4271).
const (
	DefaultHoldTime    = 90 * time.Second
	DefaultConnectTime = 10 * time.Second
	DefaultPeerPort    = 179
	minHoldTime        = 3 * time.Second
)

// Build validates res and returns the resulting Config, or Errors listing
// every problem found.
func Build(res Resources) (*Config, error) {
	b := &builder{res: res}
	cfg := &Config{
		Pools:       b.pools(),
		BFDProfiles: b.bfdProfiles(),
	}
	aliases := b.communityAliases()
	cfg.Peers = b.peers(cfg.BFDProfiles)
	cfg.L2Advertisements = b.l2Advertisements(cfg.Pools)
	cfg.BGPAdvertisements = b.bgpAdvertisements(cfg.Pools, cfg.Peers, aliases)
	if len(b.errs) > 0 {
		return nil, b.errs.sorted()
	}
	return cfg, nil
}

type builder struct {
	res Resources
	errorCollector
}

func ref(kind string, meta metav1.ObjectMeta) objectRef {
	return objectRef{kind: kind, namespace: meta.Namespace, name: meta.Name}
}

// checkUniqueName reports an object whose name was already seen for its kind.
func (b *builder) checkUniqueName(seen map[string]bool, obj objectRef) bool {
	if obj.name == "" {
		b.add(obj, "metadata.name", "name is required")
		return false
	}
	if seen[obj.name] {
		b.add(obj, "metadata.name", "another %s has the same name", obj.kind)
		return false
	}
	seen[obj.name] = true
	return true
}

func (b *builder) selectors(obj objectRef, field string, in []metav1.LabelSelector) Selectors {
	var out Selectors
	for i := range in {
		sel, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			b.add(obj, fmt.Sprintf("%s[%d]", field, i), "invalid label selector: %v", err)
			continue
		}
		out = append(out, sel)
	}
	return out
}

// poolRange remembers which pool and entry a range came from, to name both
// sides of an overlap.
type poolRange struct {
	pool  string
	field string
	start netip.Addr
	end   netip.Addr
}

func (b *builder) pools() map[string]*Pool {
	pools := map[string]*Pool{}
	seen := map[string]bool{}
	var all []poolRange
	for i := range b.res.Pools {
		in := &b.res.Pools[i]
		obj := ref(KindIPAddressPool, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		pool := &Pool{
			Name:          in.Name,
			Labels:        in.Labels,
			AutoAssign:    in.Spec.AutoAssign == nil || *in.Spec.AutoAssign,
			AvoidBuggyIPs: in.Spec.AvoidBuggyIPs,
		}
		ok := true
		if len(in.Spec.Addresses) == 0 {
			b.add(obj, "spec.addresses", "at least one CIDR or range is required")
			ok = false
		}
		for j, s := range in.Spec.Addresses {
			field := fmt.Sprintf("spec.addresses[%d]", j)
			r, err := ParseAddressRange(s)
			if err != nil {
				b.add(obj, field, "%v", err)
				ok = false
				continue
			}
			pool.Ranges = append(pool.Ranges, r)
			all = append(all, poolRange{pool: in.Name, field: field, start: r.From(), end: r.To()})
		}
		if alloc := in.Spec.ServiceAllocation; alloc != nil {
			if alloc.Priority < 0 {
				b.add(obj, "spec.serviceAllocation.priority", "must not be negative, got %d", alloc.Priority)
				ok = false
			}
			pool.Priority = alloc.Priority
			pool.Namespaces = slices.Clone(alloc.Namespaces)
			for j, ns := range alloc.Namespaces {
				if ns == "" {
					b.add(obj, fmt.Sprintf("spec.serviceAllocation.namespaces[%d]", j), "namespace name must not be empty")
					ok = false
				}
			}
			pool.NamespaceSelectors = b.selectors(obj, "spec.serviceAllocation.namespaceSelectors", alloc.NamespaceSelectors)
			pool.ServiceSelectors = b.selectors(obj, "spec.serviceAllocation.serviceSelectors", alloc.ServiceSelectors)
		}
		sort.Slice(pool.Ranges, func(x, y int) bool { return pool.Ranges[x].From().Less(pool.Ranges[y].From()) })
		if ok {
			pools[pool.Name] = pool
		}
	}
	b.checkOverlaps(all)
	return pools
}

// checkOverlaps reports every pair of ranges that share an address, within a
// pool or across pools, in O(n log n).
func (b *builder) checkOverlaps(ranges []poolRange) {
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].start.Less(ranges[j].start) })
	// furthest is the range reaching furthest among those already seen.
	var furthest *poolRange
	for i := range ranges {
		r := &ranges[i]
		if furthest != nil && furthest.start.Is4() == r.start.Is4() && !furthest.end.Less(r.start) {
			b.add(objectRef{kind: KindIPAddressPool, namespace: b.poolNamespace(r.pool), name: r.pool}, r.field,
				"%s-%s overlaps %s-%s of IPAddressPool %s (%s)", r.start, r.end, furthest.start, furthest.end, furthest.pool, furthest.field)
		}
		if furthest == nil || furthest.start.Is4() != r.start.Is4() || furthest.end.Less(r.end) {
			furthest = r
		}
	}
}

func (b *builder) poolNamespace(name string) string {
	if i := indexByName(b.res.Pools, name); i >= 0 {
		return b.res.Pools[i].Namespace
	}
	return ""
}

// indexByName returns the index of the object called name, or -1.
func indexByName[T any, PT interface {
	*T
	GetName() string
}](objects []T, name string) int {
	for i := range objects {
		if PT(&objects[i]).GetName() == name {
			return i
		}
	}
	return -1
}

// selectPools resolves an advertisement's ipAddressPools and
// ipAddressPoolSelectors to pool names; both empty selects every pool.
func (b *builder) selectPools(obj objectRef, pools map[string]*Pool, names []string, selectors []metav1.LabelSelector) []string {
	chosen := map[string]bool{}
	for i, name := range names {
		if _, known := pools[name]; !known {
			// A pool that exists but was refused has its own error.
			if indexByName(b.res.Pools, name) < 0 {
				b.add(obj, fmt.Sprintf("spec.ipAddressPools[%d]", i), "unknown IPAddressPool %q", name)
			}
			continue
		}
		chosen[name] = true
	}
	sels := b.selectors(obj, "spec.ipAddressPoolSelectors", selectors)
	for name, pool := range pools {
		if (len(names) == 0 && len(selectors) == 0) || (len(sels) > 0 && sels.Matches(pool.Labels)) {
			chosen[name] = true
		}
	}
	out := make([]string, 0, len(chosen))
	for name := range chosen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (b *builder) l2Advertisements(pools map[string]*Pool) []*L2Advertisement {
	var out []*L2Advertisement
	seen := map[string]bool{}
	for i := range b.res.L2Advertisements {
		in := &b.res.L2Advertisements[i]
		obj := ref(KindL2Advertisement, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		adv := &L2Advertisement{
			Name:             in.Name,
			Pools:            b.selectPools(obj, pools, in.Spec.IPAddressPools, in.Spec.IPAddressPoolSelectors),
			NodeSelectors:    b.selectors(obj, "spec.nodeSelectors", in.Spec.NodeSelectors),
			ServiceSelectors: b.selectors(obj, "spec.serviceSelectors", in.Spec.ServiceSelectors),
			Interfaces:       slices.Clone(in.Spec.Interfaces),
		}
		for j, name := range in.Spec.Interfaces {
			if err := checkInterfaceName(name); err != nil {
				b.add(obj, fmt.Sprintf("spec.interfaces[%d]", j), "%v", err)
			}
		}
		for j, pref := range in.Spec.PreferredNodeSelectors {
			field := fmt.Sprintf("spec.preferredNodeSelectors[%d]", j)
			if pref.Weight < 1 || pref.Weight > 100 {
				b.add(obj, field+".weight", "must be between 1 and 100, got %d", pref.Weight)
			}
			sel, err := metav1.LabelSelectorAsSelector(&pref.Preference)
			if err != nil {
				b.add(obj, field+".preference", "invalid label selector: %v", err)
				continue
			}
			adv.PreferredNodes = append(adv.PreferredNodes, WeightedSelector{Weight: pref.Weight, Selector: sel})
		}
		out = append(out, adv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkInterfaceName applies the kernel's rules for interface names.
func checkInterfaceName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name must not be empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 characters", name)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("interface name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

func (b *builder) communityAliases() map[string]Community {
	aliases := map[string]Community{}
	seen := map[string]bool{}
	for i := range b.res.Communities {
		in := &b.res.Communities[i]
		obj := ref(KindCommunity, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		for j, alias := range in.Spec.Communities {
			field := fmt.Sprintf("spec.communities[%d]", j)
			if alias.Name == "" {
				b.add(obj, field+".name", "alias name is required")
				continue
			}
			if _, dup := aliases[alias.Name]; dup {
				b.add(obj, field+".name", "alias %q is defined more than once", alias.Name)
				continue
			}
			c, err := ParseCommunity(alias.Value)
			if err != nil {
				b.add(obj, field+".value", "%v", err)
				continue
			}
			aliases[alias.Name] = c
		}
	}
	return aliases
}

func (b *builder) bgpAdvertisements(pools map[string]*Pool, peers map[string]*Peer, aliases map[string]Community) []*BGPAdvertisement {
	var out []*BGPAdvertisement
	seen := map[string]bool{}
	objs := map[string]objectRef{}
	for i := range b.res.BGPAdvertisements {
		in := &b.res.BGPAdvertisements[i]
		obj := ref(KindBGPAdvertisement, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		objs[in.Name] = obj
		adv := &BGPAdvertisement{
			Name:                in.Name,
			Pools:               b.selectPools(obj, pools, in.Spec.IPAddressPools, in.Spec.IPAddressPoolSelectors),
			AggregationLength:   32,
			AggregationLengthV6: 128,
			LocalPref:           in.Spec.LocalPref,
			NodeSelectors:       b.selectors(obj, "spec.nodeSelectors", in.Spec.NodeSelectors),
			ServiceSelectors:    b.selectors(obj, "spec.serviceSelectors", in.Spec.ServiceSelectors),
		}
		if l := in.Spec.AggregationLength; l != nil {
			adv.AggregationLength = int(*l)
		}
		if l := in.Spec.AggregationLengthV6; l != nil {
			adv.AggregationLengthV6 = int(*l)
		}
		b.checkAggregation(obj, adv, pools)
		b.checkServiceSelectorAggregation(obj, adv)
		for j, name := range in.Spec.Communities {
			c, err := resolveCommunity(name, aliases)
			if err != nil {
				b.add(obj, fmt.Sprintf("spec.communities[%d]", j), "%v", err)
				continue
			}
			adv.Communities = append(adv.Communities, c)
		}
		for j, name := range in.Spec.Peers {
			if _, known := peers[name]; !known && indexByName(b.res.Peers, name) < 0 {
				b.add(obj, fmt.Sprintf("spec.peers[%d]", j), "unknown BGPPeer %q", name)
			}
		}
		adv.Peers = slices.Clone(in.Spec.Peers)
		sort.Strings(adv.Peers)
		adv.Peers = slices.Compact(adv.Peers)
		out = append(out, adv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	b.checkLocalPrefs(out, objs, pools)
	return out
}

func resolveCommunity(s string, aliases map[string]Community) (Community, error) {
	if c, ok := aliases[s]; ok {
		return c, nil
	}
	if !strings.Contains(s, ":") {
		return Community{}, fmt.Errorf("unknown Community alias %q", s)
	}
	return ParseCommunity(s)
}

func (b *builder) bfdProfiles() map[string]*BFDProfile {
	profiles := map[string]*BFDProfile{}
	seen := map[string]bool{}
	for i := range b.res.BFDProfiles {
		in := &b.res.BFDProfiles[i]
		obj := ref(KindBFDProfile, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		valid := true
		ms := func(field string, v *uint32, def, lo, hi uint32) time.Duration {
			n := b.bounded(obj, field, v, def, lo, hi, &valid)
			return time.Duration(n) * time.Millisecond
		}
		p := &BFDProfile{
			Name:             in.Name,
			ReceiveInterval:  ms("spec.receiveInterval", in.Spec.ReceiveInterval, 300, 10, 60000),
			TransmitInterval: ms("spec.transmitInterval", in.Spec.TransmitInterval, 300, 10, 60000),
			DetectMultiplier: b.bounded(obj, "spec.detectMultiplier", in.Spec.DetectMultiplier, 3, 2, 255, &valid),
			PassiveMode:      in.Spec.PassiveMode != nil && *in.Spec.PassiveMode,
			MinimumTTL:       b.bounded(obj, "spec.minimumTtl", in.Spec.MinimumTTL, 254, 1, 254, &valid),
		}
		if in.Spec.EchoMode != nil && *in.Spec.EchoMode {
			b.add(obj, "spec.echoMode", "the BFD echo function is not supported: remove echoMode (control packets alone detect failures)")
			valid = false
		}
		// echoInterval without echoMode does nothing, in MetalLB too: MetalLB
		// configurations set it beside echoMode false, so it is accepted
		// (within MetalLB's bounds) and only echoMode true is refused.
		b.bounded(obj, "spec.echoInterval", in.Spec.EchoInterval, 50, 10, 60000, &valid)
		if valid {
			profiles[p.Name] = p
		}
	}
	return profiles
}

// bounded returns *v (or def when nil), reporting a value outside [lo, hi].
func (b *builder) bounded(obj objectRef, field string, v *uint32, def, lo, hi uint32, valid *bool) uint32 {
	if v == nil {
		return def
	}
	if *v < lo || *v > hi {
		b.add(obj, field, "must be between %d and %d, got %d", lo, hi, *v)
		*valid = false
	}
	return *v
}
