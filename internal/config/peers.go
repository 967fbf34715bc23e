package config

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ironlb/ironlb/internal/api/v1beta2"
)

const (
	// asTrans is AS_TRANS (RFC 6793), which may not be configured as an ASN.
	asTrans = 23456
	// maxPasswordLength is the kernel's TCP-MD5 key limit (TCP_MD5SIG_MAXKEYLEN).
	maxPasswordLength = 80
)

func (b *builder) peers(bfd map[string]*BFDProfile) map[string]*Peer {
	peers := map[string]*Peer{}
	seen := map[string]bool{}
	endpoints := map[string][]*Peer{} // "address port" → the peers of that endpoint
	for i := range b.res.Peers {
		in := &b.res.Peers[i]
		obj := ref(KindBGPPeer, in.ObjectMeta)
		if !b.checkUniqueName(seen, obj) {
			continue
		}
		p, ok := b.peer(obj, in, bfd)
		if !ok {
			continue
		}
		endpoint := fmt.Sprintf("%s port %d", p.Neighbor(), p.Port)
		if i := slices.IndexFunc(endpoints[endpoint], func(other *Peer) bool { return shareNodes(other.NodeSelectors, p.NodeSelectors) }); i >= 0 {
			b.add(obj, p.neighborField(), "BGPPeer %s already peers with %s from the same nodes: one session per node and endpoint; give each BGPPeer its own nodeSelectors",
				endpoints[endpoint][i].Name, endpoint)
			continue
		}
		endpoints[endpoint] = append(endpoints[endpoint], p)
		peers[p.Name] = p
	}
	return peers
}

// shareNodes reports whether two peers' node selectors certainly select
// the same nodes: one of them selects every node, or both are written
// alike. Peers of one endpoint must differ here (say, one per rack, each
// with its own source address); whether they still overlap on some node is
// only known per node, where the speaker keeps the first by name.
func shareNodes(a, b Selectors) bool {
	return len(a) == 0 || len(b) == 0 || slices.Equal(a.canonical(), b.canonical())
}

func (b *builder) peer(obj objectRef, in *v1beta2.BGPPeer, bfd map[string]*BFDProfile) (*Peer, bool) {
	errsBefore := len(b.errs)
	spec := &in.Spec
	p := &Peer{
		Name:                   in.Name,
		MyASN:                  spec.MyASN,
		PeerASN:                spec.PeerASN,
		LocalASN:               spec.LocalASN,
		Port:                   spec.PeerPort,
		NodeSelectors:          b.selectors(obj, "spec.nodeSelectors", spec.NodeSelectors),
		GracefulRestart:        spec.EnableGracefulRestart,
		EBGPMultiHop:           spec.EBGPMultiHop,
		DualStackAddressFamily: spec.DualStackAddressFamily,
	}
	if p.Port == 0 {
		p.Port = DefaultPeerPort
	}
	b.checkASN(obj, "spec.myASN", spec.MyASN, true)
	b.checkASN(obj, "spec.localASN", spec.LocalASN, false)
	switch {
	case spec.PeerASN != 0 && spec.DynamicASN != "":
		b.add(obj, "spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive")
	case spec.DynamicASN == v1beta2.InternalASNMode:
		p.PeerASN = p.MyASN
	case spec.DynamicASN == v1beta2.ExternalASNMode:
		p.PeerASN = 0 // any AS but the local one, as the router's OPEN offers it
	case spec.DynamicASN != "":
		b.add(obj, "spec.dynamicASN", "must be internal or external, got %q", spec.DynamicASN)
	default:
		b.checkASN(obj, "spec.peerASN", spec.PeerASN, true)
	}

	b.peerEndpoint(obj, spec, p)
	if spec.RouterID != "" {
		addr, err := netip.ParseAddr(spec.RouterID)
		if err != nil || !addr.Is4() {
			b.add(obj, "spec.routerID", "%q is not an IPv4 address", spec.RouterID)
		}
		p.RouterID = addr
	}

	var timerErr *timerError
	if p.HoldTime, p.KeepaliveTime, timerErr = sessionTimers(spec.HoldTime, spec.KeepaliveTime); timerErr != nil {
		b.add(obj, timerErr.field, "%s", timerErr.message)
	}
	if p.ConnectTime, timerErr = connectTime(spec.ConnectTime); timerErr != nil {
		b.add(obj, timerErr.field, "%s", timerErr.message)
	}
	if p.EBGPMultiHop && p.IsInternal() {
		b.add(obj, "spec.ebgpMultiHop", "is for eBGP sessions; this peer's AS equals the local AS (iBGP)")
	}

	b.peerPassword(obj, in, p)
	b.checkPassword(obj, p)
	if spec.BFDProfile != "" {
		profile, known := bfd[spec.BFDProfile]
		switch {
		case !known && indexByName(b.res.BFDProfiles, spec.BFDProfile) < 0:
			b.add(obj, "spec.bfdProfile", "unknown BFDProfile %q", spec.BFDProfile)
		case p.Interface != "":
			b.add(obj, "spec.bfdProfile", "BFD on unnumbered sessions (spec.interface) is not supported yet: the speaker's BFD needs the router's address; remove bfdProfile or peer with peerAddress")
		case p.EBGPMultiHop:
			b.add(obj, "spec.bfdProfile", "multi-hop BFD (RFC 5883) is not supported: the speaker's BFD is single hop only (RFC 5881, TTL 255 required); remove bfdProfile or ebgpMultiHop")
		default:
			p.BFD = profile // nil when the profile is invalid: its own errors refuse the configuration
		}
	}
	if spec.VRFName != "" {
		b.add(obj, "spec.vrf", "VRFs are not supported: the speaker opens every session in the node's default VRF (ironlb has no VRF support: none of its test kernels has the VRF driver to try it against); remove vrf")
	}
	return p, len(b.errs) == errsBefore
}

// Neighbor names whom the session goes to: the peer's address, or for an
// unnumbered peer "interface <name>". A node keeps one session per neighbour.
func (p *Peer) Neighbor() string {
	if p.Interface != "" {
		return "interface " + p.Interface
	}
	return p.Address.String()
}

// neighborField is the BGPPeer field that names the neighbour.
func (p *Peer) neighborField() string {
	if p.Interface != "" {
		return "spec.interface"
	}
	return "spec.peerAddress"
}

// peerEndpoint judges whom the session goes to: peerAddress, or interface
// for an unnumbered session over the interface's IPv6 link-local addresses
// (RFC 8950); exactly one of them, as MetalLB requires. An unnumbered session
// is always dialled from the interface's own link-local address, so it
// takes no sourceAddress.
func (b *builder) peerEndpoint(obj objectRef, spec *v1beta2.BGPPeerSpec, p *Peer) {
	switch {
	case spec.Interface != "" && spec.PeerAddress != "":
		b.add(obj, "spec.interface", "peerAddress and interface are mutually exclusive: set interface alone for an unnumbered session")
	case spec.Interface != "":
		if err := checkInterfaceName(spec.Interface); err != nil {
			b.add(obj, "spec.interface", "%v", err)
		}
		if spec.SourceAddress != "" {
			b.add(obj, "spec.sourceAddress", "an unnumbered session (interface %s) is dialled from that interface's IPv6 link-local address: remove sourceAddress", spec.Interface)
		}
		p.Interface = spec.Interface
		return
	case spec.PeerAddress == "":
		b.add(obj, "spec.peerAddress", "peerAddress or interface is required")
	default:
		addr, err := netip.ParseAddr(spec.PeerAddress)
		addr = addr.Unmap()
		switch {
		case err != nil:
			b.add(obj, "spec.peerAddress", "%q is not an IP address", spec.PeerAddress)
		case addr.IsUnspecified() || addr.IsMulticast():
			b.add(obj, "spec.peerAddress", "%s is not a unicast address", addr)
		case addr.Zone() != "" || addr.IsLinkLocalUnicast():
			b.add(obj, "spec.peerAddress", "%s is link-local: to peer over a link's link-local addresses, set interface (unnumbered BGP) instead of peerAddress", spec.PeerAddress)
		}
		p.Address = addr
	}
	if spec.SourceAddress != "" {
		addr, err := netip.ParseAddr(spec.SourceAddress)
		switch {
		case err != nil:
			b.add(obj, "spec.sourceAddress", "%q is not an IP address", spec.SourceAddress)
		case p.Address.IsValid() && addr.Unmap().Is4() != p.Address.Is4():
			b.add(obj, "spec.sourceAddress", "%s and peerAddress %s are of different IP families", addr, p.Address)
		}
		p.SourceAddress = addr.Unmap()
	}
}

// checkASN refuses AS 0 (RFC 7607) and AS_TRANS; when required, 0 means the
// field is missing.
func (b *builder) checkASN(obj objectRef, field string, asn uint32, required bool) {
	switch {
	case asn == 0 && required:
		b.add(obj, field, "an AS number between 1 and 4294967295 is required")
	case asn == asTrans:
		b.add(obj, field, "AS %d is AS_TRANS and cannot be used", asn)
	}
}

func (b *builder) peerPassword(obj objectRef, in *v1beta2.BGPPeer, p *Peer) {
	ref := in.Spec.PasswordSecret
	if ref.Name == "" {
		p.Password = in.Spec.Password
		return
	}
	if in.Spec.Password != "" {
		b.add(obj, "spec.passwordSecret", "password and passwordSecret are mutually exclusive")
		return
	}
	namespace := ref.Namespace
	if namespace == "" {
		namespace = in.Namespace
	}
	if namespace != in.Namespace {
		b.add(obj, "spec.passwordSecret.namespace", "Secret %s/%s is in another namespace: it must be in the BGPPeer's namespace %s, the only one whose Secrets the speakers read", namespace, ref.Name, in.Namespace)
		return
	}
	secret, found := b.res.Secrets[namespace+"/"+ref.Name]
	switch {
	case !found:
		b.add(obj, "spec.passwordSecret", "Secret %s/%s not found", namespace, ref.Name)
	case secret.Type != "kubernetes.io/basic-auth":
		b.add(obj, "spec.passwordSecret", "Secret %s/%s has type %q, want kubernetes.io/basic-auth", namespace, ref.Name, secret.Type)
	default:
		password, ok := secret.Data["password"]
		if !ok {
			b.add(obj, "spec.passwordSecret", "Secret %s/%s has no key \"password\"", namespace, ref.Name)
			return
		}
		if len(password) == 0 {
			b.add(obj, "spec.passwordSecret", "Secret %s/%s has an empty \"password\": TCP-MD5 would be silently off; remove passwordSecret to peer without a password", namespace, ref.Name)
			return
		}
		p.Password = string(password)
	}
}

// checkPassword refuses a password the kernel cannot use as a TCP-MD5 key.
func (b *builder) checkPassword(obj objectRef, p *Peer) {
	if len(p.Password) > maxPasswordLength {
		b.add(obj, "spec.password", "%d bytes: longer than the TCP-MD5 key limit of %d bytes", len(p.Password), maxPasswordLength)
	}
}
