# Unit tests of cdc-capture's pure code (see the Makefile's test rule).
TESTSRC_pgoutput = cmd/cdc-capture/pgoutput.c cmd/cdc-capture/change.c cmd/cdc-capture/types.c \
	cmd/cdc-capture/event.c
TESTSRC_capture_copy = cmd/cdc-capture/copy.c cmd/cdc-capture/snapshot.c cmd/cdc-capture/progress.c \
	cmd/cdc-capture/types.c cmd/cdc-capture/event.c
