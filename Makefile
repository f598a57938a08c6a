# EFOS build. Sources are picked up by directory, so adding a file needs no edit here.
CC       ?= cc
SANITIZE ?= 0
BUILD    := build$(if $(filter 1,$(SANITIZE)),-san,)
PKGS     := libmicrohttpd gnutls openssl libxml-2.0 xmlsec1-openssl libpq jansson libcurl zlib
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

.PHONY: all check run demo-start demo-stop clean clean-demo bench deps unit fuzz fuzz-build
all: $(BINDIR)/efosd $(BINDIR)/efosctl $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# bin/X links cmd/X.c plus any cmd/X_*.c (subcommand files of that program).
.SECONDEXPANSION:
$(BINDIR)/%: $(BUILD)/cmd/%.o $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename $$(wildcard cmd/$$*_*.c)))) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $^ -o $@ $(LDLIBS)

# Fuzz targets (libFuzzer): tests/fuzz/fuzz_X.c -> build-fuzz/fuzz_X, compiled with clang and
# ASan+UBSan together with the library sources in FUZZ_LIB_SRCS (add the files a new parser
# needs there). `make fuzz` runs each for FUZZ_SECONDS; `make check` runs each for ~10 s
# (tests/integration/t_fuzz_smoke.sh). Crashes land in build-fuzz/artifacts/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_CFLAGS  := -std=gnu17 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_SUPPRESS_DEPRECATED -I. $(PKG_CFLAGS)
FUZZ_LIB_SRCS := core/err.c core/log.c $(wildcard core/xml*.c) core/config.c core/hex.c core/utf8.c core/base64.c \
  certs/ocsp.c certs/issue.c core/audit.c core/db.c core/db_stmt.c
# fuzz_authn_request: the AuthnRequest intake and its extension parsers
FUZZ_LIB_SRCS += idp/authn_request.c idp/authn_request_ext.c idp/types.c idp/metadata_store.c core/saml_md.c
# fuzz_xades_fed: the federated XAdES update
FUZZ_LIB_SRCS += signer/xades_fed.c signer/xades_props.c
# fuzz_sign_request: the DSS SignRequest intake
FUZZ_LIB_SRCS += signer/dss_request.c signer/dss_xml.c
# fuzz_sp_response: the signing service's SP side (the HSM code is linked, never reached)
FUZZ_LIB_SRCS += signer/sp_response.c signer/idp_md.c signer/sad_verify.c $(wildcard hsm/*.c)
# fuzz_pdf: PDF reading and the PAdES update (with the CMS of seal.c)
FUZZ_LIB_SRCS += signer/pdf.c signer/pdf_obj.c signer/pades.c signer/seal.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS     := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: deps fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

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
	rm -rf build build-san bin bin-san build-fuzz

-include $(patsubst %.c,$(BUILD)/%.d,$(wildcard cmd/*.c)) $(LIB_OBJS:.o=.d) $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%.d)
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/%.d)
