# Unit tests of cdc-sink-es code (see the Makefile).
TESTSRC_bulkresp = cmd/cdc-sink-es/bulkresp.c
TESTSRC_esdocid = cmd/cdc-sink-es/docid.c
