# wspulse -- one Makefile, read top to bottom, no configure step.
#
#   make               ./wspulse (gcc -O2; warnings are bugs)
#   make run           build and run the server on the defaults
#   make test          every test: unit, integration, conformance, clients, browser
#   make deps          install what the tests need (make test runs it first)
#   make test SAN=1    the same against an AddressSanitizer + UBSan build
#   make valgrind      integration tests with the server under valgrind
#   make static        ./wspulse-static, fully static with musl
#   make TLS=1         with OpenSSL, for https:// and wss://
#   make fuzz          each libFuzzer harness for FUZZ_SECONDS (default 20)
#   make bench         bench/compare.sh: wspulse against its peers
#   make install       PREFIX=/usr/local DESTDIR= : binary, man page, systemd unit

CC       ?= gcc
PYTHON   ?= /usr/bin/python3
OPT      ?= -O2 -g
WARN      = -Wall -Wextra
CFLAGS   ?=
LDFLAGS  ?=
LDLIBS    = -lm
ALL_CFLAGS = -std=c11 $(WARN) -D_GNU_SOURCE -MMD -MP -Isrc $(OPT) $(CFLAGS)
PREFIX   ?= /usr/local
FUZZ_SECONDS ?= 20

# Each variant builds into its own folder so objects never mix; the plain
# build is ./wspulse, the others keep their binary in their folder.
B   := build
BIN := wspulse
ifeq ($(SAN),1)
    B   := build/san
    BIN := build/san/wspulse
    OPT := -Og -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
    LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(TLS),1)
    B   := $(B)/tls
    BIN := $(B)/wspulse
    ALL_CFLAGS += -DWSPULSE_TLS $(shell pkg-config --cflags openssl)
    LDLIBS += $(shell pkg-config --libs openssl)
endif

# The server and clients in src/; the load generator, the only threaded code, in src/bench/.
SRCS := $(filter-out src/tls.c,$(wildcard src/*.c src/bench/*.c))
ifeq ($(TLS),1)
    SRCS += src/tls.c
endif
OBJS := $(SRCS:src/%.c=$(B)/%.o) $(B)/www.o
WWW  := $(sort $(wildcard www/*))

.PHONY: all run deps test rfc-table unit int conformance clients browser valgrind static fuzz \
        bench install clean tls-build
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(B)/%.o: src/%.c | $(B)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# www/ becomes a generated C file: every page as a byte array.
$(B)/www.c: src/embed.sh $(WWW) | $(B)
	sh src/embed.sh $(WWW) > $@
$(B)/www.o: $(B)/www.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B):
	mkdir -p $@

run: $(BIN)
	./$(BIN)

# --- tests -------------------------------------------------------------
# Unit tests: one program per leaf module, linked with that module alone.
UNITS     := $(patsubst test/unit/test_%.c,%,$(wildcard test/unit/test_*.c))
UNIT_BINS := $(UNITS:%=$(B)/test_%)
# A leaf that builds on another leaf names it here.
UNIT_DEPS_outq = src/buf.c src/xalloc.c
UNIT_DEPS_ipcount = src/xalloc.c
UNIT_DEPS_chat_history = src/buf.c src/xalloc.c
UNIT_DEPS_access = src/http.c
# ws.c over a real connection (conn.c on a socketpair); log is a stub.
UNIT_DEPS_ws = src/conn.c src/outq.c src/buf.c src/wsframe.c src/utf8.c src/reactor.c \
               src/clock.c src/net.c src/http.c src/xalloc.c src/random.c
UNIT_DEPS_handshake = src/http.c src/base64.c src/sha1.c src/random.c
$(B)/test_access: src/http.c
$(B)/test_handshake: $(UNIT_DEPS_handshake)
$(B)/test_ipcount: $(UNIT_DEPS_ipcount)
$(B)/test_chat_history: $(UNIT_DEPS_chat_history)
$(B)/test_outq: $(UNIT_DEPS_outq)
$(B)/test_ws: $(UNIT_DEPS_ws)
$(B)/test_%: test/unit/test_%.c src/%.c test/unit/check.h | $(B)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< src/$*.c $(UNIT_DEPS_$*)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do ./$$t || fail=1; done; exit $$fail

# docs/rfc6455.md and docs/tour.md against the code: every cited function
# still there with its RFC section, every named test still there.
rfc-table:
	$(PYTHON) test/check_rfc_table.py

# The real binary on a free port, driven by Debian's python3-websockets, raw
# sockets, tmux (the terminal clients) and Chromium (the pages). The wss://
# tests use the TLS build of the same variant.
TLS_BIN := $(if $(filter 1,$(SAN)),build/san/tls/wspulse,build/tls/wspulse)
PYTEST = WSPULSE=$(BIN) WSPULSE_TLS=$(TLS_BIN) PYTHONPATH=test/lib $(PYTHON)
tls-build:
	$(MAKE) TLS=1 SAN=$(SAN) $(TLS_BIN)

int: $(BIN) tls-build
	$(PYTEST) -m unittest discover -s test/int -p 'test_*.py'

conformance: $(BIN)
	$(PYTEST) test/conformance/conformance.py

clients: $(BIN)
	$(PYTEST) -m unittest discover -s test/clients -p 'test_*.py'

browser: $(BIN) tls-build
	cd test/browser && WSPULSE=$(BIN) WSPULSE_TLS=$(TLS_BIN) node --test .

# The test dependencies first (test/deps.sh: Debian packages, as root with
# apt-get, else it prints the command and stops; npm ci in test/browser), then
# every suite. A sub-make, so that make -j2 test installs before it builds.
deps:
	@sh test/deps.sh

TESTS := rfc-table unit int conformance clients browser
test: deps
	$(MAKE) --no-print-directory $(TESTS)

# valgrind watches the server while the integration tests drive it; time
# limits stretch tenfold for it (a server under valgrind is that much slower).
# The load and fault files (floods, descriptor exhaustion, churn, clusters of
# processes) measure behaviour under load, which a tenfold slower server does
# not show; they run in the plain and the sanitizer passes.
VALGRIND_SKIP := backpressure limits chat_churn deploy cluster_sensor cluster_chat drill
VALGRIND_TESTS := $(filter-out $(VALGRIND_SKIP:%=test/int/test_%.py),$(wildcard test/int/test_*.py))
valgrind: $(BIN) tls-build
	WSPULSE_TIME_SCALE=10 \
	WSPULSE_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	    WSPULSE=$(BIN) WSPULSE_TLS=$(TLS_BIN) PYTHONPATH=test/lib:test/int $(PYTHON) -m unittest \
	    $(patsubst test/int/%.py,%,$(VALGRIND_TESTS))

# --- other builds ------------------------------------------------------
# Small (under 256 KiB with the pages, README: Performance): no unwind
# tables (C needs none), unused functions dropped, link-time optimization
# across files, position-dependent code (a static binary is loaded at a fixed
# address anyway), no page of padding between code and read-only data
# (-z noseparate-code: they share one read-only, executable segment), and the
# data segment at the next 4 KiB page of the file, not the next 64 KiB
# (x86-64 pages are 4 KiB; -z max-page-size).
STATIC_OPT = -Os -fno-pie -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections -flto
STATIC_LDFLAGS = -static -no-pie -Os -flto=2 -Wl,--gc-sections -Wl,-z,noseparate-code \
                 -Wl,-z,max-page-size=4096
static:
	$(MAKE) B=build/static BIN=wspulse-static CC=musl-gcc OPT="$(STATIC_OPT)" \
	    LDFLAGS="$(STATIC_LDFLAGS)" wspulse-static
	strip -R .comment wspulse-static
	@ls -l wspulse-static
	@test $$(wc -c < wspulse-static) -lt 262144 || \
	    { echo "make static: wspulse-static is over 256 KiB (README: Performance)"; exit 1; }

fuzz:
	test/fuzz/run.sh $(FUZZ_SECONDS)

bench: $(BIN)
	bench/compare.sh

# /chat fan-out through Redis: wspulse with and without --redis, Bun + Redis,
# Node ws + ioredis (issue 11); writes its section of bench/RESULTS.md.
.PHONY: bench-redis
bench-redis: $(BIN)
	$(PYTHON) bench/redis_bench.py

install: $(BIN)
	install -D -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/wspulse
	install -D -m 644 src/wspulse.1 $(DESTDIR)$(PREFIX)/share/man/man1/wspulse.1
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@BINDIR@|$(PREFIX)/bin|g' src/wspulse.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/wspulse.service

clean:
	rm -rf build wspulse wspulse-static test/out

-include $(wildcard $(B)/*.d $(B)/bench/*.d)
