# Crash-and-restart chaos runs (tests/chaos/README in chaos.sh's header).
#   make chaos                       direct, record, exec, http: CHAOS_SECONDS of workload each
#   make chaos CHAOS_SECONDS=600 CHAOS_VARIANTS=direct CHAOS_ARGS="--kill-max 4"
#   make chaos CHAOS_VARIANTS=kafka  (capture | sink-kafka, source-kafka | ... | sink-es)
#   make chaos CHAOS_VARIANTS="exec http"  (... | cdc-sink-exec -- HANDLER, ... | cdc-sink-http to a receiver)
# Starts its own PostgreSQL and OpenSearch (CDC_TEST_STATE=$(CHAOS_STATE)),
# since it restarts them, and stops them at the end unless they were up.
CHAOS_SECONDS  ?= 300
CHAOS_VARIANTS ?= direct record exec http
CHAOS_STATE    ?= $(CURDIR)/tests/.chaos-services
CHAOS_ARGS     ?=

chaos: all
	CDC_BIN=$(CURDIR)/$(BUILD)/bin CHAOS_STATE=$(CHAOS_STATE) CHAOS_SECONDS=$(CHAOS_SECONDS) \
		CHAOS_VARIANTS="$(CHAOS_VARIANTS)" ./tests/chaos/run.sh $(CHAOS_ARGS)

.PHONY: chaos
