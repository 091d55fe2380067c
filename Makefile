# cdc: change data capture as Unix filters.  See README.md.
#   make                 build every program into $(BUILD)/bin
#   make check           unit + program tests against real PostgreSQL/OpenSearch
#   make check-asan      the same suite under AddressSanitizer + UBSan
#   make check-valgrind  the unit tests under valgrind
#   make check-es        the Elasticsearch-API tests against OpenSearch and
#                        Elasticsearch 7.17, 8 and 9 in turn
#   make check-all       the whole matrix: check (with the big cases, e.g. a
#                        1M-row incremental snapshot), then check-es
#   make install         DESTDIR= PREFIX= honoured; make uninstall
#   make deps            install missing Debian packages
#   make demo            the whole pipeline on a throwaway PostgreSQL + OpenSearch
#   make demo-kafka      the same, cut in two at a throwaway Kafka broker
#   make bench           side-by-side benchmarks against peer tools (not in CI)

include config.mk

BUILD ?= build
PROGS = cdc-capture cdc-filter cdc-map cdc-sink-es cdc-record cdc-replay cdc-sink-kafka cdc-source-kafka cdc-sink-exec cdc-sink-http
MAN7 = man/cdc-events.7 man/cdc-systemd.7
# systemd units (systemd/, cdc-systemd(7)), installed under SYSTEMDUNITDIR.
UNITS = cdc@.service cdc-job@.service cdc-job@.timer

# Per-program libraries.
LIBS_cdc-capture = $(PQ_LIBS)
LIBS_cdc-filter  = $(JQ_LIBS)
LIBS_cdc-map     = $(JQ_LIBS)
LIBS_cdc-sink-es = $(CURL_LIBS) $(ZLIB_LIBS)
LIBS_cdc-sink-http = $(CURL_LIBS)
LIBS_cdc-record  = $(LZ4_LIBS)
LIBS_cdc-replay  = $(LZ4_LIBS)
LIBS_cdc-sink-kafka   = $(MALLOC_LIBS) $(RDKAFKA_LIBS)
LIBS_cdc-source-kafka = $(RDKAFKA_LIBS)
EXTRA_CFLAGS = $(PQ_CFLAGS) $(CURL_CFLAGS) $(LZ4_CFLAGS) $(JQ_CFLAGS)

ALL_CFLAGS = $(CPPFLAGS_CDC) $(EXTRA_CFLAGS) $(WARN) $(CFLAGS) $(CPPFLAGS)

COMMON_SRC = $(wildcard common/*.c)
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)
HEADERS    = $(wildcard common/*.h) $(wildcard cmd/*/*.h) $(wildcard tests/unit/*.h)
LIBCDC     = $(BUILD)/libcdc.a

BINS = $(PROGS:%=$(BUILD)/bin/%)

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BINS)

# One object rule for everything; every object depends on every header
# (the tree is small, and a stale object is worse than a slow build).
$(BUILD)/%.o: %.c $(HEADERS) config.mk
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCDC): $(COMMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@.tmp && $(AR) rcs $@.tmp $(COMMON_OBJ) && mv $@.tmp $@

.SECONDEXPANSION:
# A program may compile extra sources shared with another program (e.g. jq
# glue used by cdc-filter and cdc-map): EXTRA_SRC_<prog> in cmd/<prog>/build.mk.
-include $(wildcard cmd/*/build.mk)
# (No "%" inside these prerequisite lists: make would replace it with the
# stem before the second expansion; addprefix/addsuffix/basename instead.)
$(BUILD)/bin/%: $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename $$(wildcard cmd/$$*/*.c) $$(EXTRA_SRC_$$*)))) $(LIBCDC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCDC) $(LIBS_$*) -lm -pthread

# A unit test of code inside a program lists that code in the program's
# cmd/<prog>/test.mk, e.g. TESTSRC_pgoutput = cmd/cdc-capture/pgoutput.c
-include $(wildcard cmd/*/test.mk)
$(BUILD)/tests/test_%: $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename tests/unit/test_$$*.c $$(TESTSRC_$$*)))) $(LIBCDC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCDC) $(PQ_LIBS) $(JQ_LIBS) $(CURL_LIBS) $(ZLIB_LIBS) $(LZ4_LIBS) $(RDKAFKA_LIBS) -lm -pthread

unit: $(UNIT_BINS)

# The test suite: unit tests, then program tests.  tests/run.sh makes sure
# the Debian packages are there, starts the throwaway services once, runs
# prove and stops the services again.
check:
	./scripts/deps.sh build test
	$(MAKE) --no-print-directory all unit
	CDC_BUILD=$(BUILD) ./tests/run.sh

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check-asan:
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g $(SAN)" LDFLAGS="$(SAN)" MALLOC_LIBS= check

# The tests that talk to the Elasticsearch API, once against each kind of
# server tests/services.sh can start (ES_KINDS="es8 es9" for fewer), each
# kind with its own state directory so that services already up stay
# alone.  `make check` runs them against OpenSearch only.
ES_KINDS = opensearch es7 es8 es9
ES_TESTS = $(sort $(wildcard tests/cdc-sink-es-*.t)) tests/netfault-es.t tests/badinput-sink.t tests/services-es.t
check-es:
	./scripts/deps.sh build test
	$(MAKE) --no-print-directory all unit
	@failed=; for k in $(ES_KINDS); do \
		echo "check-es: $$k"; \
		CDC_TEST_ES_KIND=$$k CDC_TEST_STATE=tests/.services/check-es-$$k CDC_BUILD=$(BUILD) \
			TESTS="$(ES_TESTS)" ./tests/run.sh || failed="$$failed $$k"; \
	done; \
	if [ -n "$$failed" ]; then echo "check-es: failed against:$$failed"; exit 1; fi

# Every suite against every server: what CI runs (check) and the rest.
# The suite runs with its big cases here (CI's `make check` stays light):
# tests/cdc-capture-incremental.t on a table of CHECK_ALL_INCR_ROWS rows.
CHECK_ALL_INCR_ROWS = 1000000
check-all:
	CDC_TEST_INCR_ROWS=$(CHECK_ALL_INCR_ROWS) $(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory check-es

# The unit tests under valgrind's memcheck: no invalid access, no leak.
check-valgrind:
	./scripts/deps.sh build fuzz
	$(MAKE) --no-print-directory unit
	@failed=0; for t in $(UNIT_BINS); do \
		if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			$$t >/dev/null 2>$(BUILD)/valgrind.err; then echo "ok - valgrind $$t"; \
		else echo "not ok - valgrind $$t"; cat $(BUILD)/valgrind.err; failed=$$((failed + 1)); fi; \
	done; echo "$$(( $(words $(UNIT_BINS)) - failed )) passed, $$failed failed"; [ $$failed -eq 0 ]

deps:
	./scripts/deps.sh

demo:
	@./scripts/demo.sh

demo-kafka:
	@./scripts/demo.sh --kafka

bench: all
	CDC_BUILD=$(BUILD) ./tests/bench/run.sh

# libFuzzer harnesses (tests/fuzz/fuzz_*.c), built with clang into build-fuzz/.
# make fuzz FUZZ_SECONDS=60 runs each for that long.
-include tests/fuzz/fuzz.mk
# Crash-and-restart chaos runs (tests/chaos/): make chaos CHAOS_SECONDS=600
-include tests/chaos/chaos.mk

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(DATADIR)/jq $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(PROGS:%=man/%.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 jq/cdc.jq $(DESTDIR)$(DATADIR)/jq/
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 644 $(UNITS:%=systemd/%) $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -m 644 systemd/cdc.sysusers $(DESTDIR)$(SYSUSERSDIR)/cdc.conf
	for p in $(PROGS); do \
		install -m 644 completions/bash/$$p $(DESTDIR)$(BASHCOMPDIR)/$$p && \
		install -m 644 completions/zsh/_$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p && \
		install -m 644 completions/fish/$$p.fish $(DESTDIR)$(FISHCOMPDIR)/$$p.fish || exit 1; \
	done

uninstall:
	for p in $(PROGS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(MANDIR)/man1/$$p.1 \
		      $(DESTDIR)$(BASHCOMPDIR)/$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p \
		      $(DESTDIR)$(FISHCOMPDIR)/$$p.fish; \
	done
	rm -f $(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%) $(DESTDIR)$(DATADIR)/jq/cdc.jq
	rm -f $(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%) $(DESTDIR)$(SYSUSERSDIR)/cdc.conf
	-rmdir $(DESTDIR)$(DATADIR)/jq $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all unit check check-asan check-valgrind check-es check-all deps demo demo-kafka bench install uninstall clean
.SECONDARY:
