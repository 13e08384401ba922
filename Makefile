# SPDX-License-Identifier: MIT
# agent: keep Jupyter kernels and servers from being culled.
# Plain make; every library comes from pkg-config.

PREFIX  ?= /usr/local
DESTDIR ?=
PKGS     = libwebsockets libcurl inih jansson openssl
PYTHON   = /usr/bin/python3
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wshadow -Wformat=2
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -DAGENT_VERSION='"$(VERSION)"' \
	$(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
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

.PHONY: all check unit e2e asan fuzz valgrind demo bench install deps ensure-deps clean

all: $(B)/agent

$(B)/obj/%.o: agent/%.c $(HDR) | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/agent: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LIBS)

$(B)/unit: $(UNITSRC) $(LIBOBJ) tests/unit/unit.h tests/unit/suites.h
	$(CC) $(ALL_CFLAGS) -Iagent -o $@ $(UNITSRC) $(LIBOBJ) $(LIBS)

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
	$(PYTHON) bench/run.py $(CURDIR)/$(B)/agent

install: $(B)/agent
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/doc/agent
	install -m 0755 $(B)/agent $(DESTDIR)$(PREFIX)/bin/agent
	install -m 0644 packaging/agent.1 $(DESTDIR)$(PREFIX)/share/man/man1/agent.1
	install -m 0644 config/agent.ini $(DESTDIR)$(PREFIX)/share/doc/agent/agent.ini

clean:
	rm -rf $(B)
