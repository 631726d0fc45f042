# haul's developer interface. `make run` starts a working appliance on
# http://localhost:8080 with its data in ./data; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test test-short lint bench e2e axe tour clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/haul .

run: build
	./bin/haul serve --data ./data

# The multi-GB tests (SIGKILL mid-upload, the zip of a package over 4 GiB),
# the browser restart and the S3 end-to-end and migration tests
# (//go:build !race) are too slow under the race detector: a second pass
# runs them without it.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 18m ./...
	$(GO) test -count=1 -timeout 5m -run 'Kill|SurvivesRestart|S3Backend|MigrateStore' .
	$(GO) test -count=1 -timeout 5m -run 'Over4GiB' ./httpd/

test-short:
	$(GO) test -count=1 -short ./...

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# bench prints the performance figures as ratios against baselines measured
# in the same run (the machine is shared; absolute speeds wander).
# HAUL_BENCH_MIB sets the chunk store's and the upload's test size (default
# 4096; the eight concurrent uploads take a quarter of it each).
bench:
	HAUL_BENCH=1 $(GO) test -count=1 -run '^TestStorePerformance$$' -v ./store/chunk/ | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestUploadPerformance$$' -v . | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestDownloadPerformance$$' -v . | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestPortalPerformance$$' -v . | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestTLSUploadPerformance$$' -v . | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestAgentPerformance$$' -v . | grep -v '^=== RUN'
	HAUL_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestS3Performance$$' -v . | grep -v '^=== RUN'
	$(GO) test -run '^$$' -bench . -benchmem ./...

e2e:
	$(GO) test -count=1 -run 'E2E' ./...

# axe fetches axe-core as CI does (.ci/axe.sh: the version and its sha512,
# cached under ~/.cache/haul) and runs the accessibility test with it.
axe:
	js="$$(bash .ci/axe.sh)" && HAUL_AXE_JS="$$js" $(GO) test -count=1 -run '^TestBrowserAccessibility$$' -v ./httpd/

# tour regenerates the README's screenshots (docs/tour) from a live
# appliance in Chromium.
tour:
	HAUL_TOUR=$(CURDIR)/docs/tour $(GO) test -count=1 -run '^TestTour$$' ./httpd/

clean:
	rm -rf bin
