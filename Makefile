# wspulse -- one Makefile, read top to bottom, no configure step.
#
#   make               ./wspulse (gcc -O2, no warnings allowed)
#   make run           build and run the server on the defaults
#   make test          every test: unit, integration, conformance, browser, clients
#   make test SAN=1    the same against an AddressSanitizer + UBSan build
#   make static        ./wspulse-static, fully static with musl
#   make TLS=1         with OpenSSL for wss://
#   make fuzz          each libFuzzer harness for FUZZ_SECONDS (default 20)
#   make bench         bench/compare.sh: wspulse against its peers

CC      ?= gcc
PYTHON  ?= /usr/bin/python3
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -MMD -MP
LDFLAGS ?=
LDLIBS  ?= -lm

# Each variant builds into its own folder so objects never mix.
B := build
ifeq ($(SAN),1)
    B := build/san
    CFLAGS := -std=c11 -Wall -Wextra -D_GNU_SOURCE -MMD -MP -Og -g \
              -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
    LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(TLS),1)
    B := $(B)/tls
    CFLAGS += -DWSPULSE_TLS $(shell pkg-config --cflags openssl)
    LDLIBS += $(shell pkg-config --libs openssl)
endif

SRCS := $(filter-out src/tls.c,$(wildcard src/*.c))
ifeq ($(TLS),1)
    SRCS += src/tls.c
endif
OBJS := $(SRCS:src/%.c=$(B)/%.o) $(B)/www.o
WWW  := $(sort $(wildcard www/*))

# The binary under test: ./wspulse for a plain build, else the variant's own.
ifeq ($(B),build)
    BIN := wspulse
else
    BIN := $(B)/wspulse
endif

.PHONY: all run test unit int conformance browser clients static fuzz bench clean
all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(B)/%.o: src/%.c | $(B)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

# www/ becomes a generated C file: every page as a byte array.
$(B)/www.c: src/embed.sh $(WWW) | $(B)
	sh src/embed.sh $(WWW) > $@
$(B)/www.o: $(B)/www.c
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

$(B):
	mkdir -p $@

run: $(BIN)
	./$(BIN)

# --- tests -------------------------------------------------------------
# Unit tests: one program per leaf module, linked with that module alone.
UNITS := $(patsubst test/unit/test_%.c,%,$(wildcard test/unit/test_*.c))
UNIT_BINS := $(UNITS:%=$(B)/test_%)
$(B)/test_%: test/unit/test_%.c src/%.c test/unit/check.h | $(B)
	$(CC) $(CFLAGS) $(LDFLAGS) -Isrc -o $@ $< src/$*.c

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do ./$$t || fail=1; done; exit $$fail

# Integration and conformance tests: the real binary on a free port, driven
# by Debian's python3-websockets and by raw sockets.
PYTEST = WSPULSE=$(BIN) PYTHONPATH=test/lib $(PYTHON)
int: $(BIN)
	$(PYTEST) -m unittest discover -s test/int -p 'test_*.py'

conformance: $(BIN)
	$(PYTEST) test/conformance/conformance.py

test: unit int conformance

static:
	$(MAKE) B=build/static CC=musl-gcc CFLAGS="-Os" LDFLAGS="-static" BIN=wspulse-static \
	    wspulse-static
	strip wspulse-static
	@ls -l wspulse-static

clean:
	rm -rf build wspulse wspulse-static test/out

-include $(wildcard $(B)/*.d)
