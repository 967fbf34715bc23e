#!/usr/bin/env bash
# Installs what ironlb's lab needs on this machine, non-interactively: the
# Debian packages (bird2 frr arping ndisc6 tcpdump tshark curl iproute2
# procps prometheus), BIRD 1.6.8 unpacked into the user cache, and kube-apiserver,
# kubectl and etcd built from the Go module proxy into the user cache (the
# first build takes ~7-12 minutes; later runs find them and return at once).
# Needs root. Run from anywhere inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "lab-deps: needs root (apt-get install); run as root" >&2
	exit 1
fi
go run ./e2etest/cmd/lab deps
go run ./e2etest/cmd/lab build
