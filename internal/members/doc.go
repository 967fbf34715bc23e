// Package members tells each speaker which other speakers are alive, using
// hashicorp/memberlist (SWIM gossip with Lifeguard) over TCP and UDP, and
// learns within milliseconds that a speaker's process exited.
//
// Gossip is encrypted with a key derived from the memberlist Secret
// (DeriveKey); a process without the key can neither join nor change what
// the members see. The keys change while the member runs (SetKeys): during a
// rotation it accepts the old and the new key, and messages no key decrypts
// are counted (Config.OnDecryptFailure). The shipped timing (DefaultConfig)
// holds a CPU-starved member alive and detects a silent member (a frozen,
// powered-off or cut-off node) in 2–5 s; FastConfig does so in about 0.6 s
// but declares a starved member dead. A graceful Leave is seen by the others
// within one gossip round. A member declared dead while it runs, and not
// told (its packets were lost or not decrypted), is told by the first
// member that hears a packet from it and holds it dead, and refutes
// (reclaim.go).
//
// # Exit watch
//
// A process that exits is not silent: its kernel closes its sockets and
// refuses connections to its port. Each member holds one idle TCP stream to
// every other member (of each pair the one with the smaller name dials, from
// its bind address) on the memberlist port itself: a stream starting with
// heldStreamMarker goes to the exit watch, every other one to memberlist.
// When a held stream ends (end of file or reset) the member dials the
// other's port (three times, 50 ms apart: a dying process may end its
// streams a moment before it closes its listener): only a refused
// connection — nobody listens: the process exited — marks that member gone,
// and a gone member leaves the live set (Members, Changes) at once. A timeout or an answer is no verdict: a frozen
// or partitioned node keeps its sockets open, and memberlist's probes decide
// as before. A gone member comes back when a later dial at its port is
// answered (gone members are dialed every redialInterval while memberlist
// lists them) or when memberlist adds it anew. Leave and Shutdown close the
// streams, so a graceful exit is seen the same way.
//
// The streams carry nothing and are not authenticated. An attacker on the
// path can reset a stream (the member dials, is answered: no verdict) or
// forge a refusal of that dial, which drops a running member from the live
// set until the next dial is answered — no more than dropping its memberlist
// packets achieves. A stranger can open a held stream only from a member's
// address (another address is closed at once); a member holds at most one
// stream per other member, a newer one from the same address replaces the
// older, and the first byte of any connection must arrive within the stream
// timeout, as memberlist requires of its own streams. A firewall that
// rejects TCP to the port (TCP reset or ICMP port unreachable) looks like
// an exited process; one that drops it does not. Each member holds one
// socket and two idle goroutines per other member; the streams' only
// traffic is TCP keepalives (every 15 s). Config.ProbesOnly turns the watch
// off, and the telling of members held dead: memberlist as MetalLB runs it.
package members
