# SPDX-License-Identifier: MIT
# agent: keep Jupyter kernels and servers from being culled.
# Plain make; every library comes from pkg-config.

PREFIX  ?= /usr/local
DESTDIR ?=
PKGS     = libwebsockets libcurl inih jansson openssl
PYTHON   = /usr/bin/python3
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC      ?= cc
# CPPFLAGS, CFLAGS and LDFLAGS come from the environment when set (as
# dpkg-buildflags sets them, with the hardening flags); -std and the warnings
# below are always added in front.
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wshadow -Wformat=2
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -DAGENT_VERSION='"$(VERSION)"' \
	$(shell pkg-config --cflags $(PKGS)) $(CPPFLAGS) $(CFLAGS)
LIBS     = $(shell pkg-config --libs $(PKGS))

SRC      = $(wildcard agent/*.c)
LIBSRC   = $(filter-out agent/main.c,$(SRC))
HDR      = $(wildcard agent/*.h)
UNITSRC  = $(wildcard tests/unit/*.c)

B        = build
OBJ      = $(SRC:agent/%.c=$(B)/obj/%.o)
LIBOBJ   = $(LIBSRC:agent/%.c=$(B)/obj/%.o)

SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(SRC:agent/%.c=$(B)/asan/%.o)
ASAN_LIBOBJ = $(LIBSRC:agent/%.c=$(B)/asan/%.o)

.PHONY: all check unit e2e asan fuzz valgrind demo bench install deps ensure-deps clean \
	deb portable portable-check matrix

all: $(B)/agent

$(B)/obj/%.o: agent/%.c $(HDR) | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/agent: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LIBS)

$(B)/unit: $(UNITSRC) $(LIBOBJ) tests/unit/unit.h tests/unit/suites.h
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Iagent -o $@ $(UNITSRC) $(LIBOBJ) $(LIBS)

$(B)/asan/%.o: agent/%.c $(HDR) | $(B)/asan
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c -o $@ $<

$(B)/asan/agent: $(ASAN_OBJ)
	$(CC) $(SAN) -o $@ $(ASAN_OBJ) $(LIBS)

$(B)/asan/unit: $(UNITSRC) $(ASAN_LIBOBJ) tests/unit/unit.h tests/unit/suites.h
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -Iagent -o $@ $(UNITSRC) $(ASAN_LIBOBJ) $(LIBS)

$(B)/obj $(B)/asan $(B)/fuzz:
	mkdir -p $@

# valgrind memcheck of an accelerated run (>= 1000 keepalive round trips, ~90 s);
# fails on any memcheck error or definite/indirect leak.
valgrind: ensure-deps
	$(MAKE) all
	AGENT_VALGRIND=1 AGENT_BIN=$(CURDIR)/$(B)/agent \
		$(PYTHON) -m pytest -q -s tests/e2e/test_valgrind.py $(PYTEST_ARGS)

# libFuzzer targets: tests/fuzz/fuzz_NAME.c with seeds in tests/fuzz/corpus/NAME/.
FUZZ_SECONDS ?= 60
FUZZERS  = $(patsubst tests/fuzz/fuzz_%.c,$(B)/fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-Iagent $(shell pkg-config --cflags $(PKGS))

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBSRC) $(HDR) | $(B)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIBSRC) $(LIBS)

# Install the Debian packages (needs root).
deps:
	packaging/ensure-deps --force

# Install only when something is missing, so non-root users with the packages can build.
ensure-deps:
	@packaging/ensure-deps

unit: $(B)/unit
	$(B)/unit

e2e: $(B)/agent
	AGENT_BIN=$(CURDIR)/$(B)/agent $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

check: ensure-deps
	$(MAKE) all $(B)/unit
	$(MAKE) unit
	$(MAKE) e2e

asan: ensure-deps
	$(MAKE) $(B)/asan/agent $(B)/asan/unit
	ASAN_OPTIONS=detect_leaks=1 $(B)/asan/unit
	ASAN_OPTIONS=detect_leaks=1 AGENT_BIN=$(CURDIR)/$(B)/asan/agent \
		$(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

# Each fuzzer runs FUZZ_SECONDS on a copy of its seed corpus (libFuzzer writes into it).
fuzz: ensure-deps
	$(MAKE) $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
		n=$${f##*/fuzz_}; rm -rf $(B)/fuzz/corpus-$$n; mkdir -p $(B)/fuzz/corpus-$$n; \
		cp tests/fuzz/corpus/$$n/* $(B)/fuzz/corpus-$$n/ 2>/dev/null || true; \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=1 $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(B)/fuzz/corpus-$$n 2>$(B)/fuzz/$$n.log || { tail -40 $(B)/fuzz/$$n.log; exit 1; }; \
		grep -h 'stat::number_of_executed_units' $(B)/fuzz/$$n.log; \
	done

demo: ensure-deps
	$(MAKE) all
	$(PYTHON) tests/demo.py $(CURDIR)/$(B)/agent

bench: ensure-deps
	$(MAKE) all
	$(PYTHON) tests/bench/run.py $(CURDIR)/$(B)/agent

# Compatibility matrix (issue 10): build and test in cached Debian chroots
# (/var/cache/jupyter-keepalive/matrix/SUITE) with each suite's libraries and
# Jupyter packages. Needs root. One suite: make matrix SUITES=trixie.
SUITES ?= bullseye trixie
matrix:
	tests/matrix/run $(SUITES)

# The Debian package's layout under DESTDIR + PREFIX: the agent as
# bin/jupyter-keepalive (so `jupyter keepalive` finds it), its man page, the
# example config and the systemd user unit (its ExecStart names PREFIX/bin).
# INSTALL_BIN picks another build of the agent (the e2e test installs the one
# under test).
NAME        = jupyter-keepalive
INSTALL_BIN ?= $(B)/agent
DOCDIR      = $(DESTDIR)$(PREFIX)/share/doc/$(NAME)
UNITDIR     = $(DESTDIR)$(PREFIX)/lib/systemd/user

install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DOCDIR) $(UNITDIR)
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/$(NAME)
	install -m 0644 packaging/$(NAME).1 $(DESTDIR)$(PREFIX)/share/man/man1/$(NAME).1
	install -m 0644 config/agent.ini README.md $(DOCDIR)/
	install -m 0644 LICENSE $(DOCDIR)/copyright
	sed 's|/usr/bin/$(NAME)|$(PREFIX)/bin/$(NAME)|' packaging/$(NAME)@.service \
		> $(UNITDIR)/$(NAME)@.service
	chmod 0644 $(UNITDIR)/$(NAME)@.service

# Debian package, built from a copy of the tree in build/deb (debian/ holds the
# packaging; needs dpkg-dev and debhelper). lintian, when installed, must
# report no errors.
deb:
	rm -rf $(B)/deb
	mkdir -p $(B)/deb/src
	tar -c --exclude=./build --exclude-vcs --exclude=__pycache__ --exclude=.pytest_cache . \
		| tar -x -C $(B)/deb/src
	test "$$(dpkg-parsechangelog -l debian/changelog -S Version)" = "$(VERSION)" || \
		{ echo "deb: debian/changelog's version is not VERSION ($(VERSION))" >&2; exit 1; }
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b
	cp $(B)/deb/$(NAME)_$(VERSION)_*.deb $(B)/
	if command -v lintian >/dev/null; then lintian --fail-on error $(B)/deb/*.changes; fi

# build/agent-portable: libwebsockets, inih and jansson linked in (with libcap,
# which the static libwebsockets needs); glibc, libcurl and OpenSSL 3 stay
# dynamic so that TLS and HTTP get the system's security updates. Built on
# Debian 12, it needs GLIBC_2.34 at most. Hardened by default.
PORTABLE_CPPFLAGS ?= -D_FORTIFY_SOURCE=2
PORTABLE_CFLAGS   ?= -fstack-protector-strong -fstack-clash-protection -fcf-protection
PORTABLE_LDFLAGS  ?= -Wl,-z,relro -Wl,-z,now -Wl,--as-needed
PORTABLE_OBJ = $(SRC:agent/%.c=$(B)/portable/%.o)
PORTABLE_LIBS = -Wl,-Bstatic -lwebsockets -lcap -linih -ljansson -Wl,-Bdynamic \
	$(shell pkg-config --libs libcurl openssl)

$(B)/portable:
	mkdir -p $@

$(B)/portable/%.o: agent/%.c $(HDR) | $(B)/portable
	$(CC) $(ALL_CFLAGS) $(PORTABLE_CPPFLAGS) $(PORTABLE_CFLAGS) -c -o $@ $<

$(B)/agent-portable: $(PORTABLE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PORTABLE_LDFLAGS) -o $@ $(PORTABLE_OBJ) $(PORTABLE_LIBS)

portable: ensure-deps
	$(MAKE) $(B)/agent-portable

# Needs root: runs build/agent-portable --once in a Debian 13 chroot without
# libwebsockets, inih and jansson (packaging/mkchroot, cached) against real
# servers on the host's loopback, over http and https, and on the host with a
# libcurl that answers like 7.81 (Ubuntu 22.04, Colab; a preloaded test double).
portable-check: portable
	$(PYTHON) tests/portable_check.py $(CURDIR)/$(B)/agent-portable

clean:
	rm -rf $(B)
