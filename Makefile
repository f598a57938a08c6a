# EFOS build. Sources are picked up by directory, so adding a file needs no edit here.
CC       ?= cc
SANITIZE ?= 0
BUILD    := build$(if $(filter 1,$(SANITIZE)),-san,)
PKGS     := libmicrohttpd gnutls openssl libxml-2.0 xmlsec1-openssl libpq jansson libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_BASE := -std=gnu17 -O2 -g -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wno-unused-parameter \
  -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE \
  -D_FORTIFY_SOURCE=2 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_SUPPRESS_DEPRECATED \
  -I. $(PKG_CFLAGS)
LDFLAGS_BASE := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
ifeq ($(SANITIZE),1)
  CFLAGS_BASE  := $(filter-out -D_FORTIFY_SOURCE=2 -O2,$(CFLAGS_BASE)) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS_BASE += -fsanitize=address,undefined
endif
CFLAGS  += $(CFLAGS_BASE)
LDLIBS  := $(PKG_LIBS) -ldl -lpthread -lm

LIB_DIRS := core hsm certs policy idp signer
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libefos.a
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

BINDIR := bin$(if $(filter 1,$(SANITIZE)),-san,)

.PHONY: all check run demo-start demo-stop clean clean-demo bench deps unit fuzz
all: $(BINDIR)/efosd $(BINDIR)/efosctl $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# bin/X links cmd/X.c plus any cmd/X_*.c (subcommand files of that program).
.SECONDEXPANSION:
$(BINDIR)/%: $(BUILD)/cmd/%.o $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard cmd/$$*_*.c)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS)

deps:
	@scripts/install-deps.sh --if-missing

check: deps all
	SANITIZE=$(SANITIZE) BUILD=$(BUILD) BINDIR=$(BINDIR) scripts/run-tests.sh

run: deps all
	scripts/demo.sh run

demo-start: deps all
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop

clean-demo:
	scripts/demo.sh clean

bench: deps all
	BUILD=$(BUILD) BINDIR=$(BINDIR) scripts/run-bench.sh

clean:
	rm -rf build build-san bin bin-san

-include $(patsubst %.c,$(BUILD)/%.d,$(wildcard cmd/*.c)) $(LIB_OBJS:.o=.d) $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%.d)
