# ironlb — build, test and run the lab. `make help` lists the targets.

GO        ?= go
BIN       := bin
FUZZTIME  ?= 10s
# e2e tests need root (network namespaces); they run as part of `make test`
# only when we are root.
IS_ROOT   := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help build test unit fuzz lint manifests manifests-check demo e2e bench bench-lab lab-down clean

help:
	@echo "make build      build bin/controller and bin/speaker"
	@echo "make test       lint, unit tests (race), fuzz smoke, manifests check, e2e (as root)"
	@echo "make demo       run ironlb on the local lab (KEEP=1 leaves it up)"
	@echo "make e2e        end-to-end tests on the lab (root)"
	@echo "make bench      Go benchmarks of the pure packages"
	@echo "make bench-lab  lab benchmarks (failover, route install, scale)"
	@echo "make manifests  regenerate CRDs, deepcopy and manifests/metallb-native.yaml"
	@echo "make lab-down   tear down a lab left up by KEEP=1"

build:
	$(GO) build -trimpath -o $(BIN)/ ./controller ./speaker

test: lint unit fuzz
ifeq ($(IS_ROOT),yes)
	$(MAKE) e2e
else
	@echo "not root: skipping the e2e suite (it needs network namespaces)"
endif

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2etest)

# Run every fuzz target for FUZZTIME on top of its seed corpus.
fuzz:
	@set -e; for pkg in $$($(GO) list ./internal/... ./e2etest/lab); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg >/dev/null; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

manifests:
	$(GO) tool controller-gen object paths=./internal/api/...
	$(GO) tool controller-gen crd:crdVersions=v1 paths=./internal/api/... output:crd:artifacts:config=manifests/crds
	$(GO) test ./manifests -run TestRenderedFileIsCurrent -update

demo: build
	$(GO) run ./e2etest/cmd/lab demo

e2e:
	$(GO) run ./e2etest/cmd/lab build
	$(GO) test -p 1 -count=1 -timeout 40m ./e2etest/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

bench-lab:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./e2etest/...

lab-down:
	$(GO) run ./e2etest/cmd/lab down

clean:
	rm -rf $(BIN)
