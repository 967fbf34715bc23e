// Package lab brings up ironlb's end-to-end lab on one Linux machine: a real
// Kubernetes control plane (etcd and kube-apiserver built from the Go module
// proxy), a bridge with one network namespace per node, a client on the same
// layer-2 segment, a BGP router (BIRD 2, BIRD 1.6 or FRR) with an external
// network behind it, and the ironlb controller and speakers under test.
//
// No kubelet or kube-proxy runs: the lab writes Node objects and
// EndpointSlices itself, and puts every LoadBalancer IP on each node's
// kube-ipvs0 device like kube-proxy in IPVS mode with strictARP, where a small
// HTTP backend answers with the node's name.
//
// Only one lab runs per machine at a time; Up takes a machine-wide lock and
// removes whatever a crashed run left behind. It needs root.
package lab
