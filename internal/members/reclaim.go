package members

import (
	"net"
	"net/netip"
	"time"
)

// A member declared dead while it runs (its messages were lost or could not
// be decrypted for a while, e.g. during a key rotation done wrong) is alive
// in its own view. memberlist tells it that the others hold it dead only by
// gossip, retransmitted a few times right after the death (lost, as its
// other messages were), or by a push/pull: every 30 s, with one random
// member the initiator holds alive; an alive message about it at the
// incarnation it was declared dead with is ignored. Until then it stays
// dead in their views, though it may hold them alive and keep probing them,
// and its join loop, which skips members it sees, does not contact them. So
// a member that hears a packet from the address of a member it holds
// departed joins that address: the push/pull carries the death, the other
// refutes it with a higher incarnation, and its alive message (gossiped,
// now decrypted) brings it back in every view. memberlist does not say
// whether a departure was a death or a Leave; a member that left keeps
// ignoring what it is told until it shuts down. A packet forged from a
// departed member's address costs one push/pull a second to that address,
// which only a holder of the key answers.
const (
	// reclaimInterval is the shortest time between two attempts to tell
	// one departed member.
	reclaimInterval = time.Second
	// forgetDeparted is how long a departed member is remembered: long
	// after memberlist's own push/pull would have told it.
	forgetDeparted = time.Hour
)

// departedMember is a member memberlist declared dead or left.
type departedMember struct {
	addr  netip.AddrPort
	since time.Time // when it departed
	told  time.Time // the last attempt to tell it; zero if none
}

// reclaimTarget returns the departed member whose address sent a packet
// at now, if it is due to be told that it is held departed: no live member
// has that address (a speaker restarted under another name) and the last
// attempt is at least reclaimInterval old.
func reclaimTarget(departed map[string]departedMember, alive map[string]Member, from netip.AddrPort, now time.Time) (string, bool) {
	target := ""
	for name, d := range departed {
		if d.addr == from && now.Sub(d.told) >= reclaimInterval {
			target = name
			break
		}
	}
	if target == "" {
		return "", false
	}
	for _, m := range alive {
		if m.Addr == from {
			return "", false
		}
	}
	return target, true
}

// forgetOld removes the members that departed more than forgetDeparted
// before now.
func forgetOld(departed map[string]departedMember, now time.Time) {
	for name, d := range departed {
		if now.Sub(d.since) > forgetDeparted {
			delete(departed, name)
		}
	}
}

// heardFrom is called with the sender of every packet: a member this one
// holds departed is told so (reclaimTarget).
func (l *List) heardFrom(from net.Addr) {
	udp, ok := from.(*net.UDPAddr)
	if !ok {
		return
	}
	sender := udp.AddrPort()
	sender = netip.AddrPortFrom(sender.Addr().Unmap(), sender.Port())
	now := time.Now()
	l.mu.Lock()
	name, due := reclaimTarget(l.departed, l.alive, sender, now)
	if due {
		d := l.departed[name]
		d.told = now
		l.departed[name] = d
	}
	stopped := l.stopped
	l.mu.Unlock()
	if due && !stopped {
		go l.tellDeparted(name, sender)
	}
}

// tellDeparted joins the departed member at addr: a push/pull that carries
// its death, so it refutes it.
func (l *List) tellDeparted(name string, addr netip.AddrPort) {
	if err := l.joinPeer(Peer{Name: name, Addrs: []netip.AddrPort{addr}}); err != nil {
		l.cfg.Logger.Debug("telling a member held dead that it is", "component", "memberlist", "member", name, "err", err)
		return
	}
	l.cfg.Logger.Info("a member held dead is sending: told it so that it refutes", "component", "memberlist", "member", name, "addr", addr)
}
