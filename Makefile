# lvsha: Heartbeat (haresources mode) and ldirectord, reimplemented in Go.
GO      ?= go
BIN     ?= bin
# Static binaries without cgo (tests and the bench build the same way): no
# libc mapped into a daemon that locks its memory (1.9 MB of hbd's RSS).
# Users and groups (hacluster, haclient) come from /etc/passwd and
# /etc/group, host names from /etc/hosts and DNS (Go's own resolver).
CGO_ENABLED ?= 0
export CGO_ENABLED
HBD_LINKS := cl_status hb_standby hb_takeover
AGENTS  := IPaddr IPaddr2 SendArp ldirectord DRRealServer

# Installation paths: Debian's (the heartbeat, ldirectord and resource-agents
# packages use the same ones). DESTDIR is prepended to every path.
PREFIX     ?= /usr
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/lvsha
# Heartbeat keeps hb_standby and hb_takeover here; admin scripts call them there.
HBSHAREDIR ?= $(DATADIR)/heartbeat
# OCF_ROOT is /usr/lib/ocf whatever the prefix; systemd's package unit directory.
OCFDIR     ?= /usr/lib/ocf/resource.d/lvsha
UNITDIR    ?= /lib/systemd/system
MAN1 := cl_status hb_standby hb_takeover
MAN8 := hbd ldird lvs-realserver ocf_lvsha lvsha-import
EXAMPLES := ha.cf authkeys haresources ldirectord.cf

# Every path install creates (uninstall removes them; a plain `make install`
# refuses to overwrite one that belongs to a Debian package, see DIVERT).
INSTALLED := $(SBINDIR)/hbd $(SBINDIR)/ldird $(SBINDIR)/lvs-realserver $(SBINDIR)/lvsha-import \
	$(addprefix $(BINDIR)/,$(HBD_LINKS)) $(HBSHAREDIR)/hb_standby $(HBSHAREDIR)/hb_takeover \
	$(LIBDIR)/lvsha/ocf-agent $(addprefix $(OCFDIR)/,$(AGENTS)) \
	$(UNITDIR)/hbd.service $(UNITDIR)/ldird.service \
	$(DOCDIR)/README.md $(addprefix $(DOCDIR)/examples/ha.d/,$(EXAMPLES)) \
	$(patsubst %,$(MANDIR)/man1/%.1.gz,$(MAN1)) $(patsubst %,$(MANDIR)/man8/%.8.gz,$(MAN8))

.PHONY: all build test unit integration lint demo bench install uninstall clean deps fuzz soak

all: build

build:
	$(GO) build -o $(BIN)/hbd ./hbd
	$(GO) build -o $(BIN)/ldird ./ldird
	$(GO) build -o $(BIN)/ocf-agent ./resources/cmd/ocf-agent
	$(GO) build -o $(BIN)/lvsha-import ./importer/cmd/lvsha-import
	@for l in $(HBD_LINKS); do ln -sf hbd $(BIN)/$$l; done

deps:
	./scripts/deps.sh test

# The one test command (README, .ci/run): installs every real peer the tests use
# (scripts/deps.sh test), vets every build tag, runs the demo, then every test in
# strict mode: a test that would skip because a tool, package, privilege or kernel
# feature is missing fails instead, naming it, unless internal/testenv/allowed-skips.txt
# lists it; testgate prints a readable log and fails the run on any other skip.
STRICT := LVSHA_STRICT=1
test: deps build
	$(GO) vet ./...
	$(GO) vet -tags bench ./...
	$(GO) vet -tags vm ./...
	$(GO) vet -tags vmdemo ./...
	./scripts/demo.sh
	$(GO) build -o $(BIN)/testgate ./internal/testenv/testgate
	$(STRICT) $(BIN)/testgate $(GO) test -json -count=1 -timeout 30m ./...
	$(STRICT) $(BIN)/testgate $(GO) test -json -count=1 -timeout 10m -tags vmdemo ./tests/install/vmdemo
	./scripts/fuzz.sh 300000x

# Every fuzzer for a short bounded number of executions (part of make test) or a
# long one (a count, not a time: scripts/fuzz.sh says why).
fuzz:
	./scripts/fuzz.sh 300000x

soak:
	./scripts/fuzz.sh $${FUZZEXECS:-20000000x}

# Unit tests only (-short leaves out the slow ones; not strict, which refuses -short).
unit:
	LVSHA_STRICT= $(GO) test -count=1 -short ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags bench ./...
	$(GO) vet -tags vm ./...
	$(GO) vet -tags vmdemo ./...

demo: build
	./scripts/deps.sh demo
	./scripts/demo.sh

# Side by side with the real tools; writes bench/results/DATE.txt (bench/run.sh:
# LVSHA_BENCH_QUICK=1 for a short, not citable run; BENCH_RUN=regexp for some).
bench: build
	./scripts/deps.sh bench
	./bench/run.sh

# rel FROM_DIR TO_FILE: a relative symlink target (the links resolve inside DESTDIR too).
rel = $$(realpath -m --relative-to=$(1) $(2))

# install: DESTDIR aware. Into the live system (no DESTDIR) it first checks
# that no file it would write belongs to a Debian package (heartbeat owns
# /usr/bin/cl_status, /usr/share/heartbeat/hb_standby, ... and their man
# pages): it stops and names them, unless DIVERT=1, which moves the
# package's files aside with dpkg-divert --local --rename (PATH.distrib) so
# that apt never overwrites ours; `make uninstall` puts them back.
install: build
	@if [ -z "$(DESTDIR)" ] && command -v dpkg-query >/dev/null; then \
	  clash=; for f in $(INSTALLED); do \
	    o=$$(dpkg-query -S "$$f" 2>/dev/null | grep -v '^diversion' | cut -d: -f1 | head -n1); \
	    [ -n "$$o" ] && clash="$$clash $$f($$o)"; \
	  done; \
	  if [ -n "$$clash" ] && [ "$(DIVERT)" != 1 ]; then \
	    echo "install: these files belong to Debian packages:$$clash" >&2; \
	    echo "install: remove the package (apt-get remove heartbeat), or run 'make install DIVERT=1'" >&2; \
	    echo "install: to divert its files (dpkg-divert --local --rename; 'make uninstall' restores them)" >&2; \
	    exit 1; \
	  fi; \
	  for c in $$clash; do f=$${c%(*}; \
	    dpkg-divert --local --rename --divert "$$f.distrib" --add "$$f" || exit 1; \
	  done; \
	fi
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(HBSHAREDIR) \
	  $(DESTDIR)$(LIBDIR)/lvsha $(DESTDIR)$(OCFDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(DOCDIR)/examples/ha.d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BIN)/hbd $(BIN)/ldird $(BIN)/lvsha-import scripts/lvs-realserver $(DESTDIR)$(SBINDIR)/
	@for l in $(HBD_LINKS); do ln -sfn $(call rel,$(BINDIR),$(SBINDIR)/hbd) $(DESTDIR)$(BINDIR)/$$l || exit 1; done
	@for l in hb_standby hb_takeover; do ln -sfn $(call rel,$(HBSHAREDIR),$(SBINDIR)/hbd) $(DESTDIR)$(HBSHAREDIR)/$$l || exit 1; done
	install -m 755 $(BIN)/ocf-agent $(DESTDIR)$(LIBDIR)/lvsha/ocf-agent
	@for a in $(AGENTS); do ln -sfn $(call rel,$(OCFDIR),$(LIBDIR)/lvsha/ocf-agent) $(DESTDIR)$(OCFDIR)/$$a || exit 1; done
	@for u in hbd ldird; do \
	  sed 's|/usr/sbin/|$(SBINDIR)/|g; s|/usr/share/doc/lvsha/|$(DOCDIR)/|g' scripts/systemd/$$u.service >$(DESTDIR)$(UNITDIR)/$$u.service && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 644 $(addprefix ha.d/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/ha.d/
	@for m in $(MAN1); do gzip -9n <man/$$m.1 >$(DESTDIR)$(MANDIR)/man1/$$m.1.gz || exit 1; done
	@for m in $(MAN8); do gzip -9n <man/$$m.8 >$(DESTDIR)$(MANDIR)/man8/$$m.8.gz || exit 1; done
	@chmod 644 $(DESTDIR)$(MANDIR)/man1/*.1.gz $(DESTDIR)$(MANDIR)/man8/*.8.gz
	@echo "installed lvsha into $(or $(DESTDIR),/) (PREFIX=$(PREFIX)); /etc/ha.d is not touched: samples are in $(DOCDIR)/examples/ha.d"

# uninstall removes exactly what install wrote, then restores files that
# install DIVERT=1 moved aside.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR)/examples/ha.d $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(LIBDIR)/lvsha $(DESTDIR)$(OCFDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && command -v dpkg-divert >/dev/null; then \
	  for f in $(INSTALLED); do \
	    if dpkg-divert --list "$$f" | grep -q "^local diversion of $$f to $$f.distrib"; then \
	      dpkg-divert --local --rename --remove "$$f" || exit 1; \
	    fi; \
	  done; \
	fi

clean:
	rm -rf $(BIN)
