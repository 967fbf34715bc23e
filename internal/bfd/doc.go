// Package bfd is Bidirectional Forwarding Detection (RFC 5880) for single-hop
// sessions over UDP (RFC 5881), in asynchronous mode, without echo and without
// authentication.
//
// It has two halves. The pure half is the control packet codec ([Decode],
// [Packet.Encode]) and the session state machine ([Session]): it is driven by
// explicit time, takes received packets and the current instant, and returns
// the packets to send, the state changes and the next instant it must be woken
// at, so tables test every rule of RFC 5880 §6.8 without sleeping. The shell
// ([Conn]) owns the UDP sockets: it receives on port 3784, sends from a port in
// 49152–65535 with TTL 255, drops packets that arrive with a TTL below the
// session's minimum, hands each packet to its session and sleeps until the
// earliest deadline.
//
// Authentication (the A bit, RFC 5880 §6.7) is not supported: a BFDProfile has
// no field to configure it, and RFC 5880 §6.8.6 requires a system that does not
// use authentication to discard packets that carry it, so [Decode] refuses them.
//
// The package has no Kubernetes dependencies.
package bfd
