# tests/fuzz/fuzz.mk: libFuzzer harnesses, included by the top Makefile.
#
#   make fuzz                    build every harness, run each FUZZ_SECONDS (60)
#   make fuzz-smoke              the same, 10 s each (what CI runs)
#   make fuzz-build              only build them into $(FUZZ_BUILD)/
#   make fuzz FUZZ_TARGETS=json  run a subset (names without the fuzz_ prefix)
#   make fuzz-regress            run each harness once over its seeds (seconds)
#
# Each harness tests/fuzz/fuzz_<name>.c is linked with -fsanitize=fuzzer;
# the code under test (libcdc and the program sources a harness lists in
# FUZZSRC_<name>) is compiled with clang and
# -fsanitize=fuzzer-no-link,address,undefined into $(FUZZ_BUILD)/.  A harness
# whose sources do not exist yet is left out (and named as skipped).
# tests/fuzz/run.sh runs each one on a scratch copy of its seed corpus
# tests/fuzz/corpus/<name>/ (nothing is written into the tree) and prints
# executions and crashes per target; reproducers land in
# $(FUZZ_BUILD)/artifacts/<name>/.  Seeds named regress-* once crashed.
#
# Harnesses (what each checks besides ASan/UBSan: see the file's comment):
#   linereader  lr_next (memfd/pipe, small caps) + lr_check, event_scan,
#               sel_match, dl_bad_line records decoded back
#   checkpoint  checkpoint_parse, format/parse round trip
#   json        json_skip, json_iter, json_span_decode, json_add_str
#   jqparse     jqp_parse/jqp_print/jqp_format_double against libjq
#   pgoutput    pgo_decode + change/truncate/message/control_format,
#               events checked with event_scan (cdc-capture)
#   types       typemap_value: one JSON value per PostgreSQL text value
#   parsers     time_parse, duration_parse, lsn/pos parse, opt.h numbers
#   bulkresp    bulkresp_parse, mgetresp_parse, errresp_parse,
#               json_find_strings (cdc-sink-es)
#   docid       docid_from_key/docid_from_image/index_name (cdc-sink-es)
#   segment     lz4r_read/lz4r_resync/seg_scan_frames on raw and damaged
#               lz4, seg_index_load/seg_entry_parse, segment names

FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN_CODE = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SAN_LINK = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# No -Werror here: a warning clang has and gcc does not must not stop fuzzing.
FUZZ_CFLAGS   = $(CPPFLAGS_CDC) $(EXTRA_CFLAGS) $(filter-out -Werror,$(WARN)) \
	-g -O1 -fno-omit-frame-pointer -DCDC_FUZZING $(FUZZ_SAN_CODE)

# Program sources (FUZZSRC_), files that must exist (FUZZNEED_) and
# libraries (FUZZLIBS_) each harness needs besides libcdc.
FUZZLIBS_jqparse   = $(JQ_LIBS)
FUZZSRC_pgoutput   = cmd/cdc-capture/pgoutput.c cmd/cdc-capture/change.c \
	cmd/cdc-capture/event.c cmd/cdc-capture/types.c
FUZZLIBS_pgoutput  = $(PQ_LIBS)
FUZZSRC_types      = cmd/cdc-capture/types.c
FUZZLIBS_types     = $(PQ_LIBS)
# Harnesses of program code see that program's headers.
$(FUZZ_BUILD)/tests/fuzz/fuzz_pgoutput.o $(FUZZ_BUILD)/tests/fuzz/fuzz_types.o: FUZZ_INC = -Icmd/cdc-capture
$(FUZZ_BUILD)/tests/fuzz/fuzz_bulkresp.o $(FUZZ_BUILD)/tests/fuzz/fuzz_docid.o: FUZZ_INC = -Icmd/cdc-sink-es
FUZZSRC_docid      = cmd/cdc-sink-es/docid.c
FUZZSRC_bulkresp   = cmd/cdc-sink-es/bulkresp.c
FUZZNEED_bulkresp  = cmd/cdc-sink-es/bulkresp.h
FUZZNEED_segment   = common/segment.h common/segment.c
FUZZLIBS_segment   = $(LZ4_LIBS)

FUZZ_ALL   = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# A target is buildable when everything it names exists.
fuzz_ready = $(if $(strip $(foreach f,$(FUZZSRC_$(1)) $(FUZZNEED_$(1)),$(if $(wildcard $(f)),,$(f)))),,$(1))
FUZZ_READY = $(strip $(foreach t,$(FUZZ_ALL),$(call fuzz_ready,$(t))))
FUZZ_SKIPPED = $(filter-out $(FUZZ_READY),$(FUZZ_ALL))
FUZZ_TARGETS ?= $(FUZZ_READY)

FUZZ_COMMON_OBJ = $(COMMON_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIBCDC     = $(FUZZ_BUILD)/libcdc.a

$(FUZZ_BUILD)/%.o: %.c $(HEADERS) config.mk tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_INC) -c -o $@ $<

$(FUZZ_LIBCDC): $(FUZZ_COMMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@.tmp && $(AR) rcs $@.tmp $(FUZZ_COMMON_OBJ) && mv $@.tmp $@

# (The %-substitution is inside a variable: in a pattern rule's prerequisite
# text make would replace the first % with the stem before expanding.)
fuzz_objs = $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(1))
$(FUZZ_BUILD)/fuzz_%: $$(call fuzz_objs,tests/fuzz/fuzz_$$*.c $$(FUZZSRC_$$*)) $(FUZZ_LIBCDC)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN_LINK) -o $@ $(filter %.o,$^) $(FUZZ_LIBCDC) $(FUZZLIBS_$*) -lm

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	@test -z "$(FUZZ_SKIPPED)" || echo "fuzz: not built yet (sources missing): $(FUZZ_SKIPPED)"

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) ./tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) ./tests/fuzz/run.sh 10 $(FUZZ_TARGETS)

# Each seed once, no fuzzing: the seeds include inputs that once crashed.
fuzz-regress: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/artifacts/$$t && \
		$(FUZZ_BUILD)/fuzz_$$t -runs=0 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/regress-$$t.log 2>&1 && \
			echo "fuzz-regress $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) seeds ok" || \
			{ echo "fuzz-regress $$t: FAILED, see $(FUZZ_BUILD)/regress-$$t.log"; exit 1; }; \
	done

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-regress
