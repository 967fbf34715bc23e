# ironlb — build, test and run the lab. `make help` lists the targets.

GO        ?= go
BIN       := bin
FUZZTIME  ?= 10s
# The source commit, stamped into both binaries (--version) and the images' labels; "-dirty" when the
# work tree has uncommitted changes. Images are dated at the commit's time, never at the build's.
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Static, reproducible binaries: no cgo, no build paths (-trimpath), no build time, no build ID.
LDFLAGS   := -s -w -buildid= -X github.com/ironlb/ironlb/internal/version.Revision=$(REVISION)
# e2e tests need root (network namespaces); they run as part of `make test`
# only when we are root.
IS_ROOT   := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help build images test checks unit fuzz lint helm manifests manifests-check demo e2e soak bench bench-lab lab-down clean

help:
	@echo "make build      build bin/controller and bin/speaker"
	@echo "make images     build dist/controller.tar and dist/speaker.tar (docker-archive images)"
	@echo "make test       lint, unit tests (race), fuzz smoke, manifests check; e2e beside them (as root)"
	@echo "make demo       run ironlb on the local lab (KEEP=1 leaves it up)"
	@echo "make e2e        end-to-end tests on the lab (root)"
	@echo "make soak       churn with kills and an invariant checker (root; IRONLB_SOAK_DURATION=2h)"
	@echo "make bench      Go benchmarks of the pure packages"
	@echo "make bench-lab  lab benchmarks (failover, route install, scale)"
	@echo "make manifests  regenerate CRDs, deepcopy, manifests/metallb-native.yaml and the chart's copies"
	@echo "make helm       build helm (pinned in e2etest/helmbin) into the user cache"
	@echo "make lab-down   tear down a lab left up by KEEP=1"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./controller ./speaker

# The images as `kubectl apply -f manifests/metallb-native.yaml` names them, for `kind load
# image-archive` or `ctr -n k8s.io images import`. Two runs on one commit give the same digests.
images: build
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./internal/images/cmd/build-images -bin $(BIN) -out dist -revision $(REVISION)

# As root the e2e suite runs beside the checks: the lab mostly waits on kubelets and the network, so the
# two share CI's 2 cores. The checks run niced: the e2e suite is the longer of the two, and its lab's
# start and its timing-sensitive steps get the CPU first; the checks take what it leaves. Their output
# interleaves as it comes (an output-sync mode would hold the e2e suite's back until its 20 minutes end,
# and lose it on a timeout).
test:
ifeq ($(IS_ROOT),yes)
	$(MAKE) -j2 --no-print-directory checks e2e CHECKS_NICE="nice -n 10"
else
	$(MAKE) checks
	@echo "not root: skipping the e2e suite (it needs network namespaces)"
endif

# What needs no lab, one after the other: lint, unit tests, fuzzing.
checks:
	$(CHECKS_NICE) $(MAKE) lint
	$(CHECKS_NICE) $(MAKE) unit
	$(CHECKS_NICE) $(MAKE) fuzz

# The chart's render tests in manifests run `helm template`: build helm first, visibly.
unit: helm
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2etest)

# helm from the Go module proxy (e2etest/helmbin pins it), built into ~/.cache/ironlb on first use.
HELM := $(GO) run ./e2etest/cmd/lab helm
helm:
	$(HELM) version --short

# Run every fuzz target for FUZZTIME on top of its seed corpus (.ci/fuzz-target.sh: one worker at a
# time; a failing target's whole output is printed; Go's coordinator deadline race is retried).
FUZZTIMEOUT ?= 5m
fuzz:
	@set -e; for pkg in $$($(GO) list ./internal/... ./e2etest/lab); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    .ci/fuzz-target.sh $$pkg $$target $(FUZZTIME) $(FUZZTIMEOUT); \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(HELM) lint --strict charts/ironlb
	$(HELM) lint --strict charts/ironlb --set controller.webhookMode=disabled,speaker.memberlist.enabled=false,crds.enabled=false,prometheus.podMonitor.enabled=true,prometheus.prometheusRule.enabled=true,loadBalancerClass=example.com/lb

manifests:
	$(GO) tool controller-gen object paths=./internal/api/...
	$(GO) tool controller-gen crd:crdVersions=v1 paths=./internal/api/... output:crd:artifacts:config=manifests/crds
	$(GO) test ./manifests -run 'TestRenderedFileIsCurrent|TestChartFilesAreCurrent' -update

demo: build
	$(GO) run ./e2etest/cmd/lab demo

# `make lint` vets the e2e packages: go test skips its own vet pass here.
e2e:
	$(GO) run ./e2etest/cmd/lab build
	@rm -f .cache/lab/suite-times.txt
	$(GO) test -p 1 -count=1 -vet=off -timeout 40m ./e2etest/...; status=$$?; \
	  echo "e2e suite times (.cache/lab/suite-times.txt):"; cat .cache/lab/suite-times.txt 2>/dev/null; exit $$status

# Not part of `make test`: e2etest/soak does nothing unless IRONLB_SOAK_DURATION is set.
IRONLB_SOAK_DURATION ?= 2h
soak:
	$(GO) run ./e2etest/cmd/lab build
	IRONLB_SOAK_DURATION=$(IRONLB_SOAK_DURATION) $(GO) test -count=1 -timeout 0 -v -run TestSoak ./e2etest/soak/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# The memberlist scale lab (e2etest/memberscale) alone takes about 50 minutes: 10 minutes of starvation
# per timing profile. Its members run 20 to a process and start in stages (docs/benchmarks.md: 200
# members started at once do not converge on 2 cores).
IRONLB_SCALE_PER_PROCESS ?= 20
IRONLB_SCALE_STAGED ?= 1
bench-lab:
	IRONLB_SCALE_PER_PROCESS=$(IRONLB_SCALE_PER_PROCESS) IRONLB_SCALE_STAGED=$(IRONLB_SCALE_STAGED) \
	  $(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout 90m ./e2etest/...

lab-down:
	$(GO) run ./e2etest/cmd/lab down

clean:
	rm -rf $(BIN) dist
