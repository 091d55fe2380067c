/*
 * cdc-capture: read PostgreSQL's logical replication stream (pgoutput) and
 * print one change event per line (cdc-events(7)).
 *
 * main() reads top to bottom: options, checks, connection and setup
 * (publications, slot, initial snapshot), the stream loop with its
 * reconnections, one cleanup path.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "fileio.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "incremental.h"
#include "snapshot.h"
#include "timeutil.h"

static const char usage_text[] =
	"Usage: cdc-capture --slot NAME --publication NAME[,NAME...] [OPTION]...\n"
	"       cdc-capture --slot NAME --drop-slot [CONNECTION OPTION]...\n"
	"Print the changes of a PostgreSQL logical replication slot (pgoutput) as\n"
	"NDJSON change events on standard output (cdc-events(7)).\n"
	"\n"
	"Connection (as psql and pg_recvlogical take it; PG* variables, .pgpass and\n"
	"service files apply; a password never goes on the command line):\n"
	"  -d, --dbname DBNAME        database name, connection string or URI\n"
	"  -h, --host HOSTNAME        server host or socket directory\n"
	"  -p, --port PORT            server port\n"
	"  -U, --username NAME        user name\n"
	"  -S, --slot NAME            replication slot (required)\n"
	"  -P, --publication NAMES    publication(s), comma-separated (required to stream)\n"
	"\n"
	"Setup:\n"
	"      --create-slot          create the slot if it does not exist\n"
	"      --drop-slot            drop the slot and exit\n"
	"      --create-publication   create missing publications (FOR ALL TABLES,\n"
	"                             or for --tables)\n"
	"      --tables LIST          tables for --create-publication: t1,schema.t2\n"
	"\n"
	"Initial snapshot (when this run creates the slot):\n"
	"      --snapshot MODE        initial (default when creating), never, only\n"
	"      --snapshot-jobs N      connections copying tables in parallel (default 1)\n"
	"      --snapshot-state FILE  marker that detects an interrupted snapshot\n"
	"                             (default with --ack-file FILE: FILE.snapshot)\n"
	"      --progress             show snapshot progress on stderr\n"
	"\n"
	"Incremental snapshots (while streaming; cdc-capture(1) \"Incremental snapshots\"):\n"
	"      --signal-file FILE     take requests 'snapshot TABLE [where CONDITION]'\n"
	"                             appended to FILE (checked every second)\n"
	"      --signal REQUEST       append REQUEST to --signal-file FILE and exit\n"
	"      --snapshot-chunk N     rows per chunk (default 1024)\n"
	"\n"
	"Stream:\n"
	"      --ack-file FILE        confirm to the server only the position in this\n"
	"                             checkpoint (written by cdc-sink-es, cdc-record)\n"
	"      --heartbeat SECONDS    heartbeat event after SECONDS without events\n"
	"                             (default 10, 0: off)\n"
	"      --status-interval SECONDS  standby status updates (default 10)\n"
	"  -E, --endpos LSN           stop once everything up to LSN has been written\n"
	"      --receive-timeout SECONDS  the connection is lost when the server sends\n"
	"                             nothing for SECONDS although asked to reply\n"
	"                             (default 60, 0: off)\n"
	"      --no-loop              exit 75 when the connection is lost (default:\n"
	"                             reconnect)\n"
	"      --tx-events            emit begin and commit control events, and\n"
	"                             Debezium's transaction block in data events\n"
	"      --ts-ns                ts_ns in the envelope and the source, as Debezium\n"
	"                             (19 digits: libjq rounds them, cdc-map refuses)\n"
	"      --key-change MODE      an update of a row's key: delete-create (default,\n"
	"                             as Debezium: a d of the old key and a c of the\n"
	"                             new one) or update (one u event)\n"
	"      --numeric string|number  numeric values as strings (default) or numbers\n"
	"      --values cdc|debezium  value renderings: cdc-events(7)'s (default), or\n"
	"                             Debezium's where they differ (json as strings,\n"
	"                             dates and times with Z, ...)\n"
	"\n"
	"Output and diagnostics:\n"
	"      --stats                counters, lag and WAL bytes behind on stderr\n"
	"                             every 10 s and at exit\n"
	"      --metrics-file FILE    keep Prometheus metrics in FILE (every 5 s and\n"
	"                             at exit)\n"
	"  -v, --verbose              more messages on stderr (repeatable)\n"
	"  -q, --quiet                no warnings, no progress\n"
	"  -?, --help                 show this help and exit (-h is the host, as in psql)\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"Exit status 75 also means the connection was lost with --no-loop, or the\n"
	"server is unreachable.\n";

enum {
	OPT_CREATE_SLOT = 256, OPT_DROP_SLOT, OPT_CREATE_PUB, OPT_TABLES, OPT_SNAPSHOT, OPT_SNAPSHOT_JOBS,
	OPT_SNAPSHOT_STATE, OPT_PROGRESS, OPT_ACK_FILE, OPT_HEARTBEAT, OPT_STATUS_INTERVAL, OPT_RECEIVE_TIMEOUT,
	OPT_NO_LOOP,
	OPT_SIGNAL_FILE, OPT_SIGNAL, OPT_SNAPSHOT_CHUNK,
	OPT_TX_EVENTS, OPT_KEY_CHANGE, OPT_TS_NS, OPT_VALUES, OPT_NUMERIC, OPT_STATS, OPT_METRICS_FILE, OPT_HELP,
};

static const struct option longopts[] = {
	/* connection */
	{ "dbname", required_argument, NULL, 'd' },
	{ "host", required_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "username", required_argument, NULL, 'U' },
	{ "slot", required_argument, NULL, 'S' },
	{ "publication", required_argument, NULL, 'P' },
	/* setup */
	{ "create-slot", no_argument, NULL, OPT_CREATE_SLOT },
	{ "drop-slot", no_argument, NULL, OPT_DROP_SLOT },
	{ "create-publication", no_argument, NULL, OPT_CREATE_PUB },
	{ "tables", required_argument, NULL, OPT_TABLES },
	/* snapshot */
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "snapshot-jobs", required_argument, NULL, OPT_SNAPSHOT_JOBS },
	{ "snapshot-state", required_argument, NULL, OPT_SNAPSHOT_STATE },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "signal-file", required_argument, NULL, OPT_SIGNAL_FILE },
	{ "signal", required_argument, NULL, OPT_SIGNAL },
	{ "snapshot-chunk", required_argument, NULL, OPT_SNAPSHOT_CHUNK },
	/* stream */
	{ "ack-file", required_argument, NULL, OPT_ACK_FILE },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "status-interval", required_argument, NULL, OPT_STATUS_INTERVAL },
	{ "receive-timeout", required_argument, NULL, OPT_RECEIVE_TIMEOUT },
	{ "endpos", required_argument, NULL, 'E' },
	{ "no-loop", no_argument, NULL, OPT_NO_LOOP },
	{ "tx-events", no_argument, NULL, OPT_TX_EVENTS },
	{ "key-change", required_argument, NULL, OPT_KEY_CHANGE },
	{ "ts-ns", no_argument, NULL, OPT_TS_NS },
	{ "values", required_argument, NULL, OPT_VALUES },
	{ "numeric", required_argument, NULL, OPT_NUMERIC },
	/* output and diagnostics */
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int64_t
seconds_arg(const char *name, const char *arg, int64_t min_ms)
{
	int64_t ms;

	if (duration_parse(arg, &ms) < 0 || ms < min_ms || ms > 86400000LL)
		die_usage("invalid %s: '%s' (seconds, e.g. 10 or 500ms)", name, arg);
	return ms;
}

/* Split "a,b" into o->pubs (empty names refused). */
static void
split_pubs(struct capture_opts *o, const char *arg)
{
	const char *p = arg;

	o->pubs_arg = arg;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0)
			die_usage("empty publication name in '%s'", arg);
		o->pubs = xrealloc(o->pubs, (size_t)(o->npubs + 1) * sizeof(*o->pubs));
		o->pubs[o->npubs++] = xstrndup(p, n);
		p += n;
		if (*p == ',' && *++p == '\0')
			die_usage("empty publication name in '%s'", arg);
	}
	if (o->npubs == 0)
		die_usage("empty --publication");
}

/* Is -d a connection string or URI (rather than a bare database name)? */
static bool
is_conninfo(const char *s)
{
	return strchr(s, '=') || strncmp(s, "postgres://", 11) == 0 ||
	       strncmp(s, "postgresql://", 13) == 0;
}

/*
 * Everything on the command line is visible to every user (ps,
 * /proc/PID/cmdline): a password in --dbname (keyword password= or a URI's
 * user:password@) is refused, without repeating it.
 */
static void
refuse_password(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts;
	bool found = false;

	if (!is_conninfo(conninfo))
		return;
	opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		/* libpq's reason may quote a piece of the string: not when it may hold a secret. */
		if (strstr(conninfo, "pass") || strchr(conninfo, '@'))
			die_usage("invalid --dbname (not a valid connection string or URI)");
		die_usage("invalid --dbname: %s", pq_message(err));
	}
	for (PQconninfoOption *opt = opts; opt->keyword; opt++)
		if (strcmp(opt->keyword, "password") == 0 && opt->val && *opt->val)
			found = true;
	PQconninfoFree(opts);
	if (found)
		die_usage("--dbname holds a password, which other users can read on the command line: remove it "
			  "and use ~/.pgpass, a password file named by PGPASSFILE, a service file, or PGPASSWORD");
}

/* Append keyword='value' to a connection string, quoted as libpq wants. */
static void
conninfo_add(struct buf *b, const char *key, const char *val)
{
	if (b->len)
		buf_addc(b, ' ');
	buf_addf(b, "%s='", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\'' || *p == '\\')
			buf_addc(b, '\\');
		buf_addc(b, *p);
	}
	buf_addc(b, '\'');
}

/*
 * The connection string from -d, -h, -p and -U, as psql builds it: -d is a
 * database name unless it is a connection string or URI; -h, -p and -U
 * win over what -d says.  NULL when none was given (libpq's defaults and
 * the PG* variables then apply alone).
 */
static char *
build_conninfo(const char *dbname, const char *host, const char *port, const char *user)
{
	struct buf b = BUF_INIT;

	if (!dbname && !host && !port && !user)
		return NULL;
	if (dbname && is_conninfo(dbname)) {
		char *err = NULL;
		PQconninfoOption *opts = PQconninfoParse(dbname, &err);

		/* refuse_password() has checked that it parses. */
		for (PQconninfoOption *opt = opts; opt && opt->keyword; opt++) {
			if (!opt->val || !*opt->val)
				continue;
			if ((host && strcmp(opt->keyword, "host") == 0) ||
			    (port && strcmp(opt->keyword, "port") == 0) ||
			    (user && strcmp(opt->keyword, "user") == 0))
				continue;
			conninfo_add(&b, opt->keyword, opt->val);
		}
		PQconninfoFree(opts);
		PQfreemem(err);
	} else if (dbname) {
		conninfo_add(&b, "dbname", dbname);
	}
	if (host)
		conninfo_add(&b, "host", host);
	if (port)
		conninfo_add(&b, "port", port);
	if (user)
		conninfo_add(&b, "user", user);
	return buf_detach(&b, NULL);
}

static void
parse_options(struct capture_opts *o, int argc, char **argv)
{
	int ch;
	bool quiet = false;
	enum snapshot_mode mode;
	const char *dbname = NULL, *host = NULL, *port = NULL, *user = NULL;

	o->heartbeat_ms = 10000;
	o->status_ms = 10000;
	o->receive_timeout_ms = 60000;
	o->snapshot_jobs = 1;
	o->snapshot_chunk = 1024;
	/* -? is help: getopt_long() cannot tell it from a refused option. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-?") == 0)
			cli_help(usage_text);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:h:p:U:S:P:E:vqV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': dbname = optarg; break;
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'U': user = optarg; break;
		case 'S':
			if (!*optarg)
				die_usage("empty --slot");
			o->slot = optarg;
			break;
		case 'P':
			if (o->npubs)
				die_usage("--publication given twice (use one comma-separated list)");
			split_pubs(o, optarg);
			break;
		case OPT_CREATE_SLOT: o->create_slot = true; break;
		case OPT_DROP_SLOT: o->drop_slot = true; break;
		case OPT_CREATE_PUB: o->create_pub = true; break;
		case OPT_TABLES:
			if (!*optarg)
				die_usage("empty --tables");
			o->tables = optarg;
			break;
		case OPT_SNAPSHOT:
			if (snapshot_mode_parse(optarg, &mode) < 0)
				die_usage("invalid --snapshot: '%s' (initial, never or only)", optarg);
			o->snapshot_mode = (int)mode;
			o->snapshot_mode_given = true;
			break;
		case OPT_SNAPSHOT_JOBS:
			if (parse_int(optarg, 1, 64, &o->snapshot_jobs) < 0)
				die_usage("invalid --snapshot-jobs: '%s' (1 to 64)", optarg);
			break;
		case OPT_SNAPSHOT_STATE: o->snapshot_state = optarg; break;
		case OPT_PROGRESS: o->progress = true; break;
		case OPT_SIGNAL_FILE:
			if (!*optarg)
				die_usage("empty --signal-file name");
			o->signal_file = optarg;
			break;
		case OPT_SIGNAL: o->signal_request = optarg; break;
		case OPT_SNAPSHOT_CHUNK:
			if (parse_int(optarg, 1, 1000000, &o->snapshot_chunk) < 0)
				die_usage("invalid --snapshot-chunk: '%s' (1 to 1000000)", optarg);
			break;
		case OPT_ACK_FILE: o->ack_file = optarg; break;
		case OPT_HEARTBEAT: o->heartbeat_ms = seconds_arg("--heartbeat", optarg, 0); break;
		case OPT_STATUS_INTERVAL:
			o->status_ms = seconds_arg("--status-interval", optarg, 100);
			break;
		case OPT_RECEIVE_TIMEOUT:
			o->receive_timeout_ms = seconds_arg("--receive-timeout", optarg, 0);
			if (o->receive_timeout_ms > 0 && o->receive_timeout_ms < 1000)
				die_usage("invalid --receive-timeout: '%s' (0, or at least 1 second)", optarg);
			break;
		case 'E':
			if (lsn_parse(optarg, &o->endpos) < 0)
				die_usage("invalid --endpos: '%s' (an LSN like 0/16B3748)", optarg);
			o->has_endpos = true;
			break;
		case OPT_NO_LOOP: o->no_loop = true; break;
		case OPT_TX_EVENTS: o->tx_events = true; break;
		case OPT_TS_NS: o->ts_ns = true; break;
		case OPT_VALUES:
			if (strcmp(optarg, "cdc") == 0)
				o->values_debezium = false;
			else if (strcmp(optarg, "debezium") == 0)
				o->values_debezium = true;
			else
				die_usage("invalid --values: '%s' (cdc or debezium)", optarg);
			break;
		case OPT_KEY_CHANGE:
			if (strcmp(optarg, "delete-create") == 0)
				o->key_change_update = false;
			else if (strcmp(optarg, "update") == 0)
				o->key_change_update = true;
			else
				die_usage("invalid --key-change: '%s' (delete-create or update)", optarg);
			break;
		case OPT_NUMERIC:
			if (strcmp(optarg, "string") == 0)
				o->numeric_number = false;
			else if (strcmp(optarg, "number") == 0)
				o->numeric_number = true;
			else
				die_usage("invalid --numeric: '%s' (string or number)", optarg);
			break;
		case OPT_STATS: o->stats = true; break;
		case OPT_METRICS_FILE:
			if (*optarg == '\0')
				die_usage("empty --metrics-file name");
			o->metrics_file = optarg;
			break;
		case 'v': cdc_verbosity++; break;
		case 'q': quiet = true; break;
		case OPT_HELP:
			cli_help(usage_text);
		default:
			cli_option(ch, argv, longopts, usage_text);
		}
	}
	if (quiet)
		cdc_verbosity = -1;
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (dbname)
		refuse_password(dbname);
	if (o->signal_request) {
		/* The writing side: append the request and exit. */
		if (!o->signal_file)
			die_usage("--signal needs --signal-file");
		incr_signal_write(o->signal_file, o->signal_request);
	}
	o->conninfo = o->conninfo_alloc = build_conninfo(dbname, host, port, user);
	if (!o->slot)
		die_usage("--slot is required");
	if (o->drop_slot) {
		if (o->create_slot || o->create_pub || o->npubs || o->ack_file || o->has_endpos || o->tables ||
		    o->snapshot_mode_given)
			die_usage("--drop-slot takes only --slot and --dbname");
		return;
	}
	if (!o->npubs)
		die_usage("--publication is required");
	if (o->tables && !o->create_pub)
		die_usage("--tables needs --create-publication");
	if (o->tables && o->npubs > 1)
		die_usage("--tables with --create-publication needs exactly one publication");
	if (quiet && o->progress)
		die_usage("--quiet and --progress conflict");
	if (quiet && o->stats)
		die_usage("--quiet and --stats conflict");
	/* The common pipeline names its checkpoint; the state file goes next to it. */
	if (!o->snapshot_state && o->ack_file) {
		struct buf b = BUF_INIT;

		buf_addf(&b, "%s.snapshot", o->ack_file);
		o->snapshot_state = o->snapshot_state_alloc = buf_detach(&b, NULL);
	}
}

/* The normal (non-replication) connection string for catalog lookups and the snapshot. */
static const char *
plain_conninfo(const struct capture_opts *o)
{
	return o->conninfo ? o->conninfo : "";
}

/*
 * Sleep ms, waking early on a signal, in slices of a second so that a
 * next stage that went away is noticed.  Returns false if asked to stop or
 * when standard output's reader is gone.
 */
static bool
nap(int64_t ms)
{
	while (ms > 0 && !cdc_stop && !fd_reader_gone(STDOUT_FILENO)) {
		int64_t slice = ms < 1000 ? ms : 1000;
		struct timespec ts = { (time_t)(slice / 1000), (long)(slice % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return !cdc_stop && !fd_reader_gone(STDOUT_FILENO);
}

/*
 * A slot this run has just created at consistent point cp starts a new
 * stream: a checkpoint already in --ack-file belongs to an earlier slot of
 * the same name.  Behind cp it is harmless (every new position is after
 * it).  At or beyond cp (the database was restored from a backup, or moved
 * to another cluster) it would be taken for progress of the new stream: its
 * position confirmed to the new slot (skipping transactions) and the
 * writers behind the pipe skipping the new snapshot.  Refuse, dropping the
 * new slot again.
 */
static void
stale_checkpoint(struct capture *c, const char *slot, uint64_t cp, bool temporary)
{
	struct cdc_pos start = { cp, 0 };
	char b[POS_BUFSZ], l[LSN_BUFSZ];

	/* A temporary slot (--snapshot only) streams nothing and confirms nothing. */
	if (temporary || !c->ack_have || pos_cmp(&c->ack.pos, &start) < 0)
		return;
	error("ack file %s holds position %s of an earlier slot \"%s\", at or beyond the new slot's "
	      "consistent point %s (database restored, or another cluster?): its positions do not belong "
	      "to the new slot; remove it and the checkpoints of the programs behind the pipe, then "
	      "run again", c->o.ack_file, pos_format(&c->ack.pos, b), c->o.slot, lsn_format(cp, l));
	capture_drop_slot(c, slot);
	exit(CDC_EXIT_FAILURE);
}

/*
 * The initial snapshot, on a slot this run creates: CREATE_REPLICATION_SLOT
 * exports a snapshot that lives until the next command on the replication
 * connection, so nothing else runs on it until snapshot_run() returns.
 * Returns true when streaming should follow.
 */
static bool
create_slot_and_snapshot(struct capture *c, enum snapshot_mode mode)
{
	struct capture_opts *o = &c->o;
	char *snapname = NULL;
	char tmpname[64];
	const char *name = o->slot;
	bool temporary = mode == SNAPSHOT_ONLY;
	uint64_t cp;
	int rc;

	if (temporary) {
		snprintf(tmpname, sizeof(tmpname), "cdc_snapshot_%ld", (long)getpid());
		name = tmpname;
	} else if (mode == SNAPSHOT_INITIAL && o->snapshot_state &&
		   snapshot_state_begin(o->snapshot_state, o->slot) < 0) {
		exit(CDC_EXIT_FAILURE);
	}
	cp = capture_create_slot(c, name, temporary, mode != SNAPSHOT_NEVER, &snapname);
	{
		char b[LSN_BUFSZ];

		info(0, "created replication slot \"%s\" at %s", name, lsn_format(cp, b));
	}
	stale_checkpoint(c, name, cp, temporary);
	if (mode == SNAPSHOT_NEVER) {
		free(snapname);
		return true;
	}
	struct snapshot_args a = {
		.conninfo = plain_conninfo(o),
		.snapshot_name = snapname,
		.consistent_lsn = cp,
		.publications = (const char *const *)o->pubs,
		.npublications = o->npubs,
		.jobs = o->snapshot_jobs,
		.progress = cdc_verbosity < 0 ? PROGRESS_OFF : o->progress ? PROGRESS_ON : PROGRESS_AUTO,
		.out = &c->w,
		.tm = c->tm,
		.ctx = &c->ctx,
		.state_path = temporary ? NULL : o->snapshot_state,
	};
	rc = snapshot_run(&a);
	free(snapname);
	if (rc < 0) {
		wr_close(&c->w);
		exit(CDC_EXIT_OK);
	}
	if (rc > 0)
		exit(rc);
	/* Everything later in the stream comes after the snapshot. */
	c->last_pos.commit_lsn = cp;
	c->last_pos.seq = 0;
	return mode != SNAPSHOT_ONLY;
}

/*
 * Connect and prepare: server checks, publications, slot (created, with
 * its snapshot, on the first run when asked).  first: the first
 * connection of this process.  Returns 0, -1 when the server cannot be
 * reached, 1 when there is nothing to stream (--snapshot only).
 */
static int
setup(struct capture *c, bool first)
{
	struct capture_opts *o = &c->o;
	struct slot_info si;
	enum snapshot_verdict verdict = SNAPSHOT_OK;
	enum snapshot_mode mode = (enum snapshot_mode)o->snapshot_mode;

	if (capture_connect(c) < 0)
		return -1;
	c->ctx.db = c->db;
	capture_check_server(c);
	capture_slot_info(c, o->slot, &si);
	if (o->drop_slot) {
		if (!si.exists)
			die("replication slot \"%s\" does not exist", o->slot);
		capture_drop_slot(c, o->slot);
		info(0, "dropped replication slot \"%s\"", o->slot);
		return 1;
	}
	capture_publications(c);
	if (first) {
		verdict = snapshot_state_check(o->snapshot_state, o->slot, o->ack_file != NULL,
					       c->ack_have ? &c->ack : NULL);
		if (verdict == SNAPSHOT_REFUSE)
			exit(CDC_EXIT_FAILURE);
		if (verdict == SNAPSHOT_REDO) {
			if (si.exists) {
				capture_check_slot(c, &si);
				capture_drop_slot(c, o->slot);
				si.exists = false;
			}
			/* The old checkpoint's positions belong to the dropped slot. */
			c->ack_have = false;
			c->last_pos = (struct cdc_pos){ 0, 0 };
			mode = SNAPSHOT_INITIAL;
		}
		if (mode == SNAPSHOT_ONLY)
			return create_slot_and_snapshot(c, mode) ? 0 : 1;
		if (!si.exists) {
			if (!o->create_slot && verdict != SNAPSHOT_REDO)
				die("replication slot \"%s\" does not exist: create it with --create-slot", o->slot);
			if (!o->snapshot_mode_given && verdict != SNAPSHOT_REDO)
				mode = SNAPSHOT_INITIAL;
			if (mode == SNAPSHOT_INITIAL && !o->snapshot_state)
				die_usage("--snapshot initial needs a state file to detect an interrupted snapshot: "
					  "give --snapshot-state FILE, or --ack-file FILE (which keeps it in "
					  "FILE.snapshot); or use --snapshot never");
			create_slot_and_snapshot(c, mode);
			capture_slot_info(c, o->slot, &si);
		} else if (o->snapshot_mode_given && mode == SNAPSHOT_INITIAL) {
			die("replication slot \"%s\" exists already: an initial snapshot now would not match "
			    "the stream (use --snapshot never, or drop the slot to start over)", o->slot);
		}
	}
	if (!si.exists)
		die("replication slot \"%s\" does not exist (dropped while capture was away?): changes may "
		    "have been lost; create a new one with --create-slot and take a new snapshot", o->slot);
	if (capture_check_slot(c, &si) < 0)
		return -1;
	c->start_confirmed = si.confirmed_flush;
	if (capture_start(c) < 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct capture cap;
	struct capture *c = &cap;
	int64_t backoff = 1000;
	int status = CDC_EXIT_OK;
	int rc;

	log_init(argv[0]);
	memset(c, 0, sizeof(*c));
	parse_options(&c->o, argc, argv);
	sig_setup();

	wr_init(&c->w, STDOUT_FILENO, 0);
	c->ev = (struct buf)BUF_INIT;
	c->dec = pgo_new();
	pgo_msg_init(&c->msg);
	c->tm = typemap_new(plain_conninfo(&c->o), c->o.numeric_number);
	typemap_set_timeout(c->tm, c->o.receive_timeout_ms);
	typemap_set_debezium(c->tm, c->o.values_debezium);
	c->ctx.slot = c->o.slot;
	c->ctx.ts_ns = c->o.ts_ns;
	c->ctx.db = "";
	change_fmt_init(&c->fmt, c->tm, &c->ctx);
	c->last_emit = mono_ms();
	c->m.path = c->o.metrics_file;
	c->m.stats = c->o.stats;
	metrics_init(&c->m, "cdc-capture");
	metrics_set_source(&c->m, c->o.slot, strlen(c->o.slot));
	c->m.extra = capture_metrics;
	c->m.extra_stats = capture_stats;
	c->m.extra_arg = c;

	if (c->o.ack_file) {
		ack_check(c, true);
		/* Events the far end already made durable are not written again. */
		if (c->ack_have && !c->ack.snapshot)
			c->last_pos = c->ack.pos;
	}

	if (c->o.signal_file)
		c->incr = incr_new(c);
	rc = setup(c, true);
	if (rc < 0)
		status = CDC_EXIT_TEMPFAIL;
	while (rc == 0) {
		enum stream_end end = capture_stream(c);

		if (end == STREAM_STOPPED)
			break;
		/* Connection lost: write out what we have, then reconnect. */
		if (wr_flush(&c->w) < 0)
			wr_die_on_error(&c->w, "standard output");
		PQfinish(c->conn);
		c->conn = NULL;
		c->streaming = false;
		/* The catalog connection went the same way (or is half-open):
		 * the next lookup opens a new one. */
		typemap_reset(c->tm);
		if (c->o.no_loop) {
			status = CDC_EXIT_TEMPFAIL;
			break;
		}
		for (;;) {
			info(0, "reconnecting in %lld s", (long long)(backoff / 1000));
			if (!nap(backoff)) {
				if (!cdc_stop)
					c->w.err = EPIPE;	/* the next stage is gone */
				goto out;
			}
			if (backoff < 30000)
				backoff *= 2;
			c->reconnecting = true;
			rc = setup(c, false);
			c->reconnecting = false;
			if (rc >= 0)
				break;
			if (c->conn)
				PQfinish(c->conn);
			c->conn = NULL;
		}
		info(0, "reconnected");
		c->m.reconnects++;
		backoff = 1000;
	}
out:
	capture_finish(c);
	if (cdc_verbosity >= 1)
		info(-1, "%llu events written, %llu re-delivered ones skipped", (unsigned long long)c->events,
		     (unsigned long long)c->skipped);
	metrics_finish(&c->m);
	if (c->conn)
		PQfinish(c->conn);
	if (wr_close(&c->w) < 0)
		wr_die_on_error(&c->w, "standard output");
	incr_free(c->incr);
	change_fmt_release(&c->fmt);
	free(c->tx_origin);
	for (int i = 0; i < c->ntally; i++) {
		free((char *)c->tally[i].schema);
		free((char *)c->tally[i].table);
	}
	free(c->tally);
	typemap_free(c->tm);
	pgo_msg_release(&c->msg);
	pgo_free(c->dec);
	buf_release(&c->ev);
	for (int i = 0; i < c->o.npubs; i++)
		free(c->o.pubs[i]);
	free(c->o.pubs);
	free(c->o.snapshot_state_alloc);
	free(c->o.conninfo_alloc);
	free(c->db);
	return status;
}
