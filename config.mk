# Tunables for the cdc build. Override on the command line: make PREFIX=/usr
VERSION = 0.1.0

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DATADIR  = $(PREFIX)/share/cdc
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  = $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR = $(PREFIX)/share/fish/vendor_completions.d
# systemd reads units and sysusers.d files under /usr/local/lib too.
SYSTEMDUNITDIR = $(PREFIX)/lib/systemd/system
SYSUSERSDIR    = $(PREFIX)/lib/sysusers.d

CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  ?= $(OPT)
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS_CDC = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Icommon -DCDC_VERSION='"$(VERSION)"' -DCDC_DATADIR='"$(DATADIR)"'

# Libraries: pkg-config where the library ships a .pc; libjq (Debian 12) ships none.
PKG_CONFIG ?= pkg-config
PQ_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS     := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null || echo -lpq)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
LZ4_CFLAGS  := $(shell $(PKG_CONFIG) --cflags liblz4 2>/dev/null)
LZ4_LIBS    := $(shell $(PKG_CONFIG) --libs liblz4 2>/dev/null || echo -llz4)
ZLIB_LIBS   := $(shell $(PKG_CONFIG) --libs zlib 2>/dev/null || echo -lz)
RDKAFKA_LIBS := $(shell $(PKG_CONFIG) --libs rdkafka 2>/dev/null || echo -lrdkafka)
# jemalloc in place of glibc's malloc, for the programs whose time goes
# into librdkafka's allocations (several per message, made and freed
# under glibc's arena lock); empty in the sanitizer build, whose runtime
# must own malloc.
MALLOC_LIBS := $(shell $(PKG_CONFIG) --libs jemalloc 2>/dev/null || echo -ljemalloc)
JQ_CFLAGS   =
JQ_LIBS     = -ljq
