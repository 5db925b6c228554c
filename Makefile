# lvsha: Heartbeat (haresources mode) and ldirectord, reimplemented in Go.
GO      ?= go
BIN     := bin
PREFIX  ?= /usr
DESTDIR ?=
HBD_LINKS := cl_status hb_standby hb_takeover

.PHONY: all build test unit integration lint demo bench install clean deps fuzz soak

all: build

build:
	$(GO) build -o $(BIN)/hbd ./hbd
	$(GO) build -o $(BIN)/ldird ./ldird
	$(GO) build -o $(BIN)/ocf-agent ./resources/cmd/ocf-agent
	@for l in $(HBD_LINKS); do ln -sf hbd $(BIN)/$$l; done

deps:
	./scripts/deps.sh test

# The one test command (README, .ci/run): installs what it needs, then runs every test.
# Integration tests need root and network namespaces; they skip with a reason otherwise.
test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	./scripts/fuzz.sh 10s

# Every fuzzer for a short bounded time (part of make test) or a long one.
fuzz:
	./scripts/fuzz.sh 10s

soak:
	./scripts/fuzz.sh $${FUZZTIME:-10m}

unit:
	$(GO) test -count=1 -short ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

demo: build
	./scripts/deps.sh demo
	./scripts/demo.sh

bench: build
	./scripts/deps.sh bench
	$(GO) test -tags bench -count=1 -v -timeout 90m ./bench/

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN)/hbd $(DESTDIR)$(PREFIX)/sbin/hbd
	@for l in $(HBD_LINKS); do ln -sf ../sbin/hbd $(DESTDIR)$(PREFIX)/bin/$$l; done
	install -d $(DESTDIR)/usr/lib/ocf/resource.d/lvsha
	install -m 755 $(BIN)/ocf-agent $(DESTDIR)/usr/lib/ocf/resource.d/lvsha/ocf-agent
	@for a in IPaddr IPaddr2 SendArp ldirectord; do ln -sf ocf-agent $(DESTDIR)/usr/lib/ocf/resource.d/lvsha/$$a; done

clean:
	rm -rf $(BIN)
