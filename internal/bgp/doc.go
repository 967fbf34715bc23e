// Package bgp is the speaker's BGP shell: it keeps the sessions to the configured
// peers and the prefixes advertised on them in line with a desired state, using one
// embedded gobgp server (github.com/osrg/gobgp/v3).
//
// The caller (the speaker's reconcile loop) computes, purely, which peers this node
// peers with and which prefixes go to which of them with which attributes, in the
// vocabulary of package bgpspec, then calls [Speaker.SetRouterID], [Speaker.SetPeers]
// and [Speaker.SetRoutes]. The speaker applies only the difference to gobgp, so a
// change to one peer, pool or service never resets other sessions nor re-sends routes
// that did not change. It judges nothing (package config does): it converts each peer
// and route into gobgp calls, one peer at a time, so that what gobgp refuses for one
// peer ([PeerError]) never keeps another from being applied. [Speaker.Close] withdraws
// every route and closes the sessions, for a stop that no restart follows;
// [Speaker.CloseForRestart] leaves the graceful-restart sessions and their routes to
// the routers (RFC 4724), and the next process opens them as a restarting speaker.
// [Speaker.Status] reports each session's state and last error for metrics and status.
//
// An unnumbered peer (Interface set) is given the router's IPv6 link-local
// address on its interface, from the kernel's neighbour table as gobgp reads
// it, and the node sends router advertisements there so the router learns
// its address (see docs/bgp.md, Unnumbered sessions).
//
// A peer whose BFD field is set also gets a BFD session (package bfd) to its
// address; when that session fails, the speaker resets the BGP session.
// [Speaker.BFDStatus] reports the BFD sessions.
//
// The package has no Kubernetes dependencies.
package bgp
