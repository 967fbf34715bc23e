#!/usr/bin/env bash
# Installs what ironlb's lab needs on this machine, non-interactively: the
# Debian packages (lab.DebianPackages: routers, probes, containerd, runc, CNI
# plugins, iptables), BIRD 1.6.8 unpacked into the user cache, and
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubectl, etcd and helm built from the Go module proxy into the
# user cache (the first build takes ~20-25 minutes on 2 cores; later runs find
# them and return at once).
# Needs root. Run from anywhere inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "lab-deps: needs root (apt-get install); run as root" >&2
	exit 1
fi
go run ./e2etest/cmd/lab deps
go run ./e2etest/cmd/lab build
