/*
 * cdc-sink-es: apply change events to Elasticsearch/OpenSearch with _bulk.
 *
 * Reads events (cdc-events(7)) from standard input.  c, r and u index the
 * row's "after" image, d deletes, both with version_type=external_gte and
 * version = source.commit_lsn, so an older event never overwrites a newer
 * one and replaying a stream changes nothing.  t deletes the table's
 * documents (delete-by-query) or is refused; m and control events only
 * move the checkpoint.  The checkpoint is the watermark of events applied
 * or dead-lettered, in input order: the file cdc-capture --ack-file reads.
 */
#include "sink.h"
#include "text.h"
#include "bulkresp.h"
#include "docid.h"
#include "event.h"
#include "json.h"
#include "linereader.h"
#include "log.h"
#include "opt.h"
#include "sig.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: cdc-sink-es [OPTION]... --index TEMPLATE\n"
	"Apply change events from standard input to Elasticsearch or OpenSearch.\n"
	"\n"
	"Server:\n"
	"  -u, --url URL              node URL; repeat for several nodes (failover);\n"
	"                             default $CDC_ES_URL (comma-separated)\n"
	"      --timeout DURATION     time limit of one request (default 60s)\n"
	"      --max-retries N        retries of a failing request before exit 75 (default 15)\n"
	"      --backoff DURATION     first retry delay, doubling up to 30s (default 250ms)\n"
	"      --user NAME            user for basic authentication (or $CDC_ES_USER);\n"
	"                             the password comes from $CDC_ES_PASSWORD or --password-file\n"
	"      --password-file FILE   read the password from FILE (mode 0600)\n"
	"      --api-key-file FILE    read an API key from FILE (mode 0600; or $CDC_ES_API_KEY)\n"
	"      --netrc-file FILE      take credentials from a netrc FILE (mode 0600)\n"
	"      --cacert FILE          CA certificates to verify the server with\n"
	"      --cert FILE            client certificate (PEM)\n"
	"      --key FILE             the client certificate's private key (PEM)\n"
	"      --insecure             do not verify the server's certificate\n"
	"\n"
	"Writing:\n"
	"  -i, --index TEMPLATE       index name; {db}, {schema} and {table} are replaced\n"
	"      --soft-delete          a delete indexes {key..., \"__deleted\":true} (keeps the version)\n"
	"      --truncate MODE        on truncate events: delete (default), skip or stop\n"
	"      --create-index FILE    create each new index with FILE (settings and mappings)\n"
	"      --pipeline NAME        ingest pipeline for every document\n"
	"      --refresh[=WHEN]       refresh after each request: true (default) or wait_for\n"
	"      --gzip                 compress request bodies\n"
	"\n"
	"Batching:\n"
	"      --batch-docs N         actions per request (default 5000)\n"
	"      --batch-bytes SIZE     request body size (default 5M; never above the\n"
	"                             server's http.max_content_length)\n"
	"      --batch-wait DURATION  send a batch this old even while input flows (default 1s)\n"
	"  -w, --workers N            requests in flight (lanes; default 2)\n"
	"\n"
	"Checkpoint and errors:\n"
	"  -c, --checkpoint FILE      skip events at or below FILE's position; keep the\n"
	"                             position of what the index has in FILE\n"
	"      --dead-letter FILE     append events that cannot be applied to FILE, go on\n"
	"      --skip-bad             count bad input lines and go on\n"
	"\n"
	"Output:\n"
	"  -n, --dry-run              print the bulk request bodies instead of sending them\n"
	"      --stats                print counters and lag on exit\n"
	"      --metrics-file FILE    keep Prometheus metrics in FILE (every 5 s and on exit)\n"
	"  -v, --verbose              more messages (repeatable)\n"
	"  -q, --quiet                no warnings\n"
	"      --help                 show this help and exit\n"
	"      --version              show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 1 failure, 2 usage, 65 an event that can never be applied,\n"
	"75 the server stayed unreachable (retries ran out).\n";

enum {
	OPT_TIMEOUT = 256, OPT_MAX_RETRIES, OPT_USER, OPT_PASSWORD_FILE, OPT_API_KEY_FILE,
	OPT_NETRC_FILE, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_INSECURE, OPT_SOFT_DELETE,
	OPT_TRUNCATE, OPT_CREATE_INDEX, OPT_PIPELINE, OPT_REFRESH, OPT_GZIP, OPT_BATCH_DOCS,
	OPT_BATCH_BYTES, OPT_BATCH_WAIT, OPT_DEAD_LETTER, OPT_SKIP_BAD, OPT_STATS,
	OPT_METRICS_FILE, OPT_HELP, OPT_VERSION, OPT_BACKOFF,
};

static const struct option options[] = {
	/* server */
	{ "url", required_argument, NULL, 'u' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "backoff", required_argument, NULL, OPT_BACKOFF },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
	{ "netrc-file", required_argument, NULL, OPT_NETRC_FILE },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	/* writing */
	{ "index", required_argument, NULL, 'i' },
	{ "soft-delete", no_argument, NULL, OPT_SOFT_DELETE },
	{ "truncate", required_argument, NULL, OPT_TRUNCATE },
	{ "create-index", required_argument, NULL, OPT_CREATE_INDEX },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "refresh", optional_argument, NULL, OPT_REFRESH },
	{ "gzip", no_argument, NULL, OPT_GZIP },
	/* batching */
	{ "batch-docs", required_argument, NULL, OPT_BATCH_DOCS },
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "batch-wait", required_argument, NULL, OPT_BATCH_WAIT },
	{ "workers", required_argument, NULL, 'w' },
	/* checkpoint and errors */
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "dead-letter", required_argument, NULL, OPT_DEAD_LETTER },
	{ "skip-bad", no_argument, NULL, OPT_SKIP_BAD },
	/* output */
	{ "dry-run", no_argument, NULL, 'n' },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static struct sink S;
static struct config C;
static struct buf scratch_index = BUF_INIT, scratch_id = BUF_INIT, scratch_old = BUF_INIT;
static struct buf scratch_action = BUF_INIT, scratch_doc = BUF_INIT, scratch_toast = BUF_INIT;

/* --- configuration --- */

/* Read a secret from a file that only its owner can read; trailing newline dropped. */
static char *
read_private_file(const char *path, const char *what)
{
	struct stat st;
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die_errno("cannot open %s file %s", what, path);
	if (fstat(fd, &st) < 0)
		die_errno("cannot stat %s file %s", what, path);
	if (!S_ISREG(st.st_mode))
		die("%s file %s is not a regular file", what, path);
	if (st.st_mode & 077)
		die("%s file %s can be read by other users (mode %04o): chmod 600 it", what, path,
		    (unsigned)(st.st_mode & 07777));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		buf_add(&b, chunk, (size_t)n);
		if (b.len > 65536)
			die("%s file %s is too large", what, path);
	}
	if (n < 0)
		die_errno("cannot read %s file %s", what, path);
	close(fd);
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.len--;
	buf_setlen(&b, b.len);
	return buf_detach(&b, NULL);
}

static void
check_private(const char *path, const char *what)
{
	free(read_private_file(path, what));
}

/*
 * Add a node URL.  from_env: credentials in it are taken out and used
 * (the environment is private); on the command line they are refused.
 */
static void
add_node(const char *url, size_t len, bool from_env)
{
	char *u = xstrndup(url, len);
	char *auth = strstr(u, "://"), *slash, *at;
	size_t n;

	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		die_usage("URL must start with http:// or https://: %s", from_env ? "(CDC_ES_URL)" : u);
	auth += 3;
	slash = strchr(auth, '/');
	at = memchr(auth, '@', slash ? (size_t)(slash - auth) : strlen(auth));
	if (at) {
		char *colon;

		if (!from_env)
			die_usage("credentials in --url are visible to other users; use "
				  "CDC_ES_USER/CDC_ES_PASSWORD, CDC_ES_URL or a netrc file");
		*at = '\0';
		colon = strchr(auth, ':');
		if (colon)
			*colon = '\0';
		if (C.user == NULL) {
			C.user = curl_easy_unescape(NULL, auth, 0, NULL);
			if (colon)
				C.password = curl_easy_unescape(NULL, colon + 1, 0, NULL);
		}
		memmove(auth, at + 1, strlen(at + 1) + 1);
	}
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	C.nodes = xrealloc(C.nodes, (size_t)(C.nnodes + 1) * sizeof(*C.nodes));
	C.nodes[C.nnodes++].url = u;
}

/*
 * getopt_long takes any unambiguous prefix of a long option, so
 * "--password SECRET" would be --password-file with a password typed on
 * the command line as its file name.  The credential-file options must be
 * spelled out; anything shorter is refused without repeating its value.
 */
static void
check_spelled_out(char **argv, const char *full, const char *hint)
{
	const char *el = argv[optind - 1], *eq = strchr(el, '=');
	size_t n;

	/* "--opt=VALUE" is one element; "--opt VALUE" two. */
	if (!(strncmp(el, "--", 2) == 0 && eq && optarg == eq + 1))
		el = argv[optind - 2];
	el += strspn(el, "-");
	n = strcspn(el, "=");
	if (n == strlen(full) && memcmp(el, full, n) == 0)
		return;
	die_usage("--%.*s: %s", (int)(n > 40 ? 40 : n), el, hint);
}

/* The name of the option getopt_long refused (without a value after '='). */
static void
bad_option(char **argv)
{
	const char *el = optind > 0 ? argv[optind - 1] : "";

	size_t n = strcspn(el, "=");
	bool is_long = strncmp(el, "--", 2) == 0 && n > 2;

	/* A short option refused inside "-xyz" leaves optind at that element. */
	if (is_long && optopt > ' ' && optopt < 127) {
		is_long = false;
		for (const struct option *o = options; o->name; o++)
			if (o->val == optopt && strncmp(o->name, el + 2, n - 2) == 0)
				is_long = true;
	}
	if (is_long)
		die_usage("unknown or ambiguous option, or missing argument: %.*s", (int)n, el);
	if (optopt > ' ' && optopt < 127)
		die_usage("unknown option or missing argument: -%c", optopt);
	die_usage("unknown option or missing argument");
}

static void
parse_args(int argc, char **argv)
{
	int c;
	uint64_t v;
	bool batch_bytes_set = false;
	const char *password_file = NULL, *api_key_file = NULL;

	C.workers = 2;
	C.batch_docs = 5000;
	C.batch_bytes = 5 << 20;
	C.batch_wait_ms = 1000;
	C.max_retries = 15;
	C.timeout_ms = 60000;
	C.backoff_ms = 250;
	C.backoff_max_ms = 30000;
	C.truncate = TRUNC_DELETE;
	opterr = 0;		/* its messages would repeat "--opt=VALUE" whole */
	while ((c = getopt_long(argc, argv, "u:i:w:c:nvq", options, NULL)) != -1) {
		switch (c) {
		case 'u':
			add_node(optarg, strlen(optarg), false);
			break;
		case OPT_TIMEOUT:
			if (duration_parse(optarg, &C.timeout_ms) < 0 || C.timeout_ms < 1)
				die_usage("bad --timeout: %s", optarg);
			break;
		case OPT_MAX_RETRIES:
			if (parse_int(optarg, 0, 1000000, &C.max_retries) < 0)
				die_usage("bad --max-retries: %s", optarg);
			break;
		case OPT_BACKOFF:
			if (duration_parse(optarg, &C.backoff_ms) < 0 || C.backoff_ms < 1)
				die_usage("bad --backoff: %s", optarg);
			break;
		case OPT_USER:
			C.user = xstrdup(optarg);
			break;
		case OPT_PASSWORD_FILE:
			check_spelled_out(argv, "password-file", "a password never goes on the command "
					  "line: use $CDC_ES_PASSWORD or --password-file FILE (spelled out)");
			password_file = optarg;
			break;
		case OPT_API_KEY_FILE:
			check_spelled_out(argv, "api-key-file", "an API key never goes on the command "
					  "line: use $CDC_ES_API_KEY or --api-key-file FILE (spelled out)");
			api_key_file = optarg;
			break;
		case OPT_NETRC_FILE:
			check_spelled_out(argv, "netrc-file", "credentials never go on the command line: "
					  "write --netrc-file FILE in full");
			C.netrc_file = optarg;
			break;
		case OPT_CACERT:
			C.cacert = optarg;
			break;
		case OPT_CERT:
			C.cert = optarg;
			break;
		case OPT_KEY:
			C.key = optarg;
			break;
		case OPT_INSECURE:
			C.insecure = true;
			break;
		case 'i':
			C.index_tmpl = optarg;
			break;
		case OPT_SOFT_DELETE:
			C.soft_delete = true;
			break;
		case OPT_TRUNCATE:
			if (strcmp(optarg, "delete") == 0)
				C.truncate = TRUNC_DELETE;
			else if (strcmp(optarg, "skip") == 0)
				C.truncate = TRUNC_SKIP;
			else if (strcmp(optarg, "stop") == 0)
				C.truncate = TRUNC_STOP;
			else
				die_usage("bad --truncate: %s (delete, skip or stop)", optarg);
			break;
		case OPT_CREATE_INDEX: {
			struct buf b = BUF_INIT;
			FILE *f = fopen(optarg, "r");
			char chunk[4096];
			size_t n;
			const char *err;

			if (f == NULL)
				die_errno("cannot open %s", optarg);
			while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
				buf_add(&b, chunk, n);
			if (ferror(f))
				die_errno("cannot read %s", optarg);
			fclose(f);
			if (b.len == 0 || json_skip(b.data, b.data + b.len, &err) == NULL ||
			    *json_ws(b.data, b.data + b.len) != '{')
				die("%s: not a JSON object", optarg);
			C.create_body = buf_detach(&b, NULL);
			break;
		}
		case OPT_PIPELINE:
			C.pipeline = optarg;
			break;
		case OPT_REFRESH:
			if (optarg == NULL || strcmp(optarg, "true") == 0)
				C.refresh = "true";
			else if (strcmp(optarg, "wait_for") == 0)
				C.refresh = "wait_for";
			else
				die_usage("bad --refresh: %s (true or wait_for)", optarg);
			break;
		case OPT_GZIP:
			C.gzip = true;
			break;
		case OPT_BATCH_DOCS:
			if (parse_u64(optarg, 1, 1000000, &C.batch_docs) < 0)
				die_usage("bad --batch-docs: %s", optarg);
			break;
		case OPT_BATCH_BYTES:
			if (parse_size(optarg, 1024, (uint64_t)1 << 31, &C.batch_bytes) < 0)
				die_usage("bad --batch-bytes: %s", optarg);
			batch_bytes_set = true;
			break;
		case OPT_BATCH_WAIT:
			if (duration_parse(optarg, &C.batch_wait_ms) < 0)
				die_usage("bad --batch-wait: %s", optarg);
			break;
		case 'w':
			if (parse_u64(optarg, 1, 256, &v) < 0)
				die_usage("bad --workers: %s (1 to 256)", optarg);
			C.workers = (int)v;
			break;
		case 'c':
			C.checkpoint_path = optarg;
			break;
		case OPT_DEAD_LETTER:
			S.dl.path = optarg;	/* opened below */
			break;
		case OPT_SKIP_BAD:
			S.dl.policy = BAD_SKIP;
			break;
		case 'n':
			C.dry_run = true;
			break;
		case OPT_STATS:
			C.stats = true;
			break;
		case OPT_METRICS_FILE:
			C.metrics_path = optarg;
			break;
		case 'v':
			if (cdc_verbosity < 0)
				cdc_verbosity = 0;
			cdc_verbosity++;
			break;
		case 'q':
			cdc_verbosity = -1;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(ferror(stdout) || fflush(stdout) ? CDC_EXIT_FAILURE : CDC_EXIT_OK);
		case OPT_VERSION:
			print_version();
		default:
			bad_option(argv);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument: %s", argv[optind]);
	if (C.index_tmpl == NULL || C.index_tmpl[0] == '\0')
		die_usage("--index is required");
	if (S.dl.path && S.dl.policy == BAD_SKIP)
		die_usage("--dead-letter and --skip-bad exclude each other");
	if ((C.cert == NULL) != (C.key == NULL) && C.key)
		die_usage("--key needs --cert");
	(void)batch_bytes_set;

	/* Nodes: --url, else CDC_ES_URL (comma-separated). */
	if (C.nnodes == 0) {
		const char *env = getenv("CDC_ES_URL");

		while (env && *env) {
			const char *comma = strchr(env, ',');
			size_t n = comma ? (size_t)(comma - env) : strlen(env);

			if (n > 0)
				add_node(env, n, true);
			env = comma ? comma + 1 : NULL;
		}
	}
	if (C.nnodes == 0 && !C.dry_run)
		die_usage("no server: give --url or set CDC_ES_URL");

	/* Credentials: environment or private files, never argv. */
	if (C.user == NULL && getenv("CDC_ES_USER"))
		C.user = xstrdup(getenv("CDC_ES_USER"));
	if (password_file)
		C.password = read_private_file(password_file, "password");
	else if (C.password == NULL && getenv("CDC_ES_PASSWORD"))
		C.password = xstrdup(getenv("CDC_ES_PASSWORD"));
	if (api_key_file)
		C.api_key = read_private_file(api_key_file, "API key");
	else if (getenv("CDC_ES_API_KEY") && *getenv("CDC_ES_API_KEY"))
		C.api_key = xstrdup(getenv("CDC_ES_API_KEY"));
	if (C.password && C.user == NULL)
		die_usage("a password without a user: set CDC_ES_USER or --user");
	if (C.api_key && C.user)
		die_usage("give either an API key or a user and password, not both");
	if (C.netrc_file)
		check_private(C.netrc_file, "netrc");
	if (C.insecure)
		warning("--insecure: the server's TLS certificate is not verified");
}

/* --- the ring of events to acknowledge --- */

static struct slot *
slot_at(struct sink *s, uint64_t ord)
{
	return &s->ring.s[ord & (s->ring.cap - 1)];
}

static void
ring_grow(struct sink *s)
{
	size_t ncap = s->ring.cap * 2;
	struct slot *ns = xmalloc(ncap * sizeof(*ns));

	for (uint64_t o = s->ring.tail; o < s->ring.head; o++)
		ns[o & (ncap - 1)] = *slot_at(s, o);
	free(s->ring.s);
	s->ring.s = ns;
	s->ring.cap = ncap;
}

static void ring_advance(struct sink *s);
static void checkpoint_maybe(struct sink *s);

/* Take a slot for an event; waits (pumping) while the ring is at its limit. */
static uint64_t
ring_push(struct sink *s, const struct event_info *ev, uint32_t pending)
{
	struct slot *sl;

	while (s->ring.head - s->ring.tail == s->ring.cap) {
		if (s->ring.cap < s->ring_max) {
			ring_grow(s);
			break;
		}
		s->input_idle = true;
		pump(s, 100, false, NULL);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
	}
	sl = slot_at(s, s->ring.head);
	sl->pos = ev->pos;
	sl->ts_ms = ev->has_ts ? ev->ts_ms : 0;
	sl->snapshot = event_in_snapshot(ev);
	sl->pending = pending;
	sl->blocked = false;
	sl->data = !ev->control && !(ev->op.len == 1 && ev->op.p[0] == 'm');
	return s->ring.head++;
}

void
slot_release(struct sink *s, uint64_t ord)
{
	struct slot *sl = slot_at(s, ord);

	if (sl->pending > 0 && --sl->pending == 0 && sl->data && sl->ts_ms > 0)
		stats_lag(&s->st, now_ms() - sl->ts_ms);
}

void
slot_block(struct sink *s, uint64_t ord)
{
	slot_at(s, ord)->blocked = true;
}

static void
ring_advance(struct sink *s)
{
	while (s->ring.tail < s->ring.head) {
		struct slot *sl = slot_at(s, s->ring.tail);

		if (sl->pending > 0 || sl->blocked)
			break;
		/* The watermark only moves forward (a replayed older event does not pull it back). */
		if (!s->wm_valid || pos_cmp(&sl->pos, &s->wm) > 0) {
			s->wm = sl->pos;
			s->wm_snapshot = sl->snapshot;
			s->wm_valid = true;
			if (!s->have_written || pos_cmp(&s->wm, &s->written) > 0)
				s->wm_dirty = true;
		}
		s->ring.tail++;
	}
}

static void
checkpoint_maybe(struct sink *s)
{
	struct checkpoint cp;

	if (!s->wm_dirty || C.checkpoint_path == NULL || C.dry_run)
		return;
	/* Dead letters must be on disk before the checkpoint moves past them. */
	if (s->dl.count != s->dl_synced) {
		if (dl_sync(&s->dl) < 0) {
			s->fatal = CDC_EXIT_FAILURE;
			return;
		}
		s->dl_synced = s->dl.count;
	}
	memset(&cp, 0, sizeof(cp));
	cp.pos = s->wm;
	cp.snapshot = s->wm_snapshot;
	memcpy(cp.name, s->name, sizeof(cp.name) - 1);
	snprintf(cp.writer, sizeof(cp.writer), "%s", "cdc-sink-es");
	if (checkpoint_write(C.checkpoint_path, &cp) < 0) {
		s->fatal = CDC_EXIT_FAILURE;
		return;
	}
	s->written = s->wm;
	s->have_written = true;
	s->wm_dirty = false;
}

/* --- driving transfers --- */

static bool
input_readable(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

void
pump(struct sink *s, int timeout_ms, bool watch_input, bool *input_ready)
{
	lanes_kick(s);
	if (!C.dry_run) {
		struct curl_waitfd wfd = { .fd = 0, .events = CURL_WAIT_POLLIN, .revents = 0 };
		struct CURLMsg *m;
		int running, left;

		if (timeout_ms > 0) {
			int t = lanes_next_wake(s, timeout_ms);

			if (t > 0)
				curl_multi_poll(s->multi, watch_input ? &wfd : NULL, watch_input ? 1 : 0,
						t, NULL);
		}
		curl_multi_perform(s->multi, &running);
		while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
			struct lane *ln;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&ln);
			lane_done(s, ln, m->data.result);
		}
	} else if (timeout_ms > 0 && watch_input) {
		struct pollfd p = { .fd = 0, .events = POLLIN };

		poll(&p, 1, timeout_ms);
	}
	if (watch_input && input_ready)
		*input_ready = input_readable();
	lanes_kick(s);
	ring_advance(s);
	checkpoint_maybe(s);
	if (C.metrics_path && mono_ms() - s->st.last_metrics_ms >= 5000)
		metrics_write(s);
}

void
drain(struct sink *s)
{
	s->input_idle = true;
	while (!lanes_empty(s)) {
		pump(s, 100, false, NULL);
		if (s->fatal && s->fatal != CDC_EXIT_DATAERR)
			return;
	}
	ring_advance(s);
	checkpoint_maybe(s);
}

_Noreturn void
finish(struct sink *s, int status)
{
	static bool finishing;

	if (finishing)
		exit(status ? status : CDC_EXIT_FAILURE);
	finishing = true;
	if (status == CDC_EXIT_OK || status == CDC_EXIT_DATAERR) {
		drain(s);
		if (s->fatal && (status == CDC_EXIT_OK || s->fatal != CDC_EXIT_DATAERR))
			status = s->fatal;
	}
	ring_advance(s);
	checkpoint_maybe(s);
	if (C.dry_run && wr_flush(&s->out) < 0)
		wr_die_on_error(&s->out, "standard output");
	dl_finish(&s->dl);
	if (C.stats)
		stats_print(s);
	metrics_write(s);
	exit(status);
}

static void
on_idle(void *arg)
{
	struct sink *s = arg;
	bool ready = false;

	s->input_idle = true;
	while (!ready) {
		pump(s, 250, true, &ready);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
	}
}

/* --- events --- */

/* A line that cannot be applied: the bad-input policy decides. */
static void
bad_line(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *reason,
	 const char *line, size_t len, size_t truncated)
{
	const struct cdc_pos *pos = ev && ev->has_pos ? &ev->pos : NULL;

	if (dl_bad_line(&s->dl, lineno, pos, reason, line, len, truncated, NULL) < 0)
		finish(s, CDC_EXIT_DATAERR);
	s->st.dead += s->dl.policy == BAD_DEADLETTER;
	/* Dead-lettered or skipped: it counts as handled for the watermark. */
	if (pos)
		ring_push(s, ev, 0);
}

static void
on_gc_deletes(const struct json_span *v, void *arg)
{
	int64_t *min = arg, ms;
	char tmp[32];

	if (v->len == 0 || v->len >= sizeof(tmp))
		return;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	if (duration_parse(tmp, &ms) == 0 && (*min < 0 || ms < *min))
		*min = ms;
}

/* index.gc_deletes shorter than this gets a warning (man page: ten minutes). */
#define GC_DELETES_MIN_MS (10 * 60 * 1000)

/*
 * Warn (once per index) when the index forgets a delete's version soon.
 * An index that does not exist yet is created by the first request with
 * what its index templates give, or the server's default of 60s.
 */
static void
check_gc_deletes(struct sink *s, const char *name)
{
	int64_t gc = -1;
	long st;
	struct buf path = BUF_INIT;

	buf_addf(&path, "/%s/_settings/index.gc_deletes?include_defaults=true", name);
	st = http_sync(s, "GET", path.data, NULL);
	if (st == 404) {
		buf_reset(&path);
		buf_addf(&path, "/_index_template/_simulate_index/%s", name);
		st = http_sync(s, "POST", path.data, NULL);
		if (st >= 0 && st != 200) {
			info(1, "index %s: cannot see the settings it will be created with (HTTP %ld)",
			     name, st);
			st = 200;
			buf_reset(&s->sync_resp);
		}
	}
	if (st == -1)
		finish(s, CDC_EXIT_TEMPFAIL);
	if (st == -2)
		finish(s, CDC_EXIT_FAILURE);
	if (st == 200) {
		if (s->sync_resp.len > 0)
			json_find_strings(s->sync_resp.data, s->sync_resp.len, "gc_deletes",
					  on_gc_deletes, &gc);
		if (gc < 0)
			gc = 60000;	/* the server's default */
		if (gc < GC_DELETES_MIN_MS)
			warning("index %s: index.gc_deletes is %llds: a delete's version is forgotten "
				"after that, and an older event replayed later brings the document "
				"back; use --soft-delete or raise index.gc_deletes", name,
				(long long)(gc / 1000));
		else
			info(2, "index %s: index.gc_deletes is %llds", name, (long long)(gc / 1000));
	} else {
		info(1, "index %s: cannot read index.gc_deletes (HTTP %ld)", name, st);
	}
	buf_release(&path);
}

static void create_index(struct sink *s, const char *name);

/*
 * The first event for an index: create it (--create-index) and check how
 * long it remembers deletes.
 */
static void
ensure_index(struct sink *s, const char *name)
{
	for (size_t i = 0; i < s->nindexes; i++)
		if (strcmp(s->indexes[i], name) == 0)
			return;
	if (s->nindexes == s->capindexes) {
		s->capindexes = s->capindexes ? s->capindexes * 2 : 16;
		s->indexes = xrealloc(s->indexes, s->capindexes * sizeof(*s->indexes));
	}
	s->indexes[s->nindexes++] = xstrdup(name);
	if (C.create_body)
		create_index(s, name);
	if (!C.soft_delete)
		check_gc_deletes(s, name);
}

/* PUT the index with the --create-index body; an existing one is fine. */
static void
create_index(struct sink *s, const char *name)
{
	long st;
	struct buf path = BUF_INIT;

	buf_addf(&path, "/%s", name);
	st = http_sync(s, "PUT", path.data, C.create_body);
	if (st == 200) {
		info(1, "created index %s", name);
	} else if (st == 400 && strstr(s->sync_resp.data ? s->sync_resp.data : "",
				       "resource_already_exists_exception")) {
		info(2, "index %s exists", name);
	} else if (st < 0) {
		finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
	} else {
		struct json_span type, reason;
		struct buf why = BUF_INIT;

		errresp_parse(s->sync_resp.data, s->sync_resp.len, &type, &reason);
		http_reason(&why, &type, &reason);
		error("cannot create index %s: HTTP %ld: %s", name, st, why.data ? why.data : "");
		finish(s, CDC_EXIT_FAILURE);
	}
	buf_release(&path);
}

static void
do_truncate(struct sink *s, uint64_t lineno, const struct event_info *ev, const char *line,
	    size_t len)
{
	uint64_t ord;

	if (C.truncate == TRUNC_SKIP) {
		info(1, "line %llu: truncate skipped (--truncate=skip)", (unsigned long long)lineno);
		ring_push(s, ev, 0);
		return;
	}
	if (C.truncate == TRUNC_STOP) {
		bad_line(s, lineno, ev, "truncate refused (--truncate=stop)", line, len, 0);
		return;
	}
	if (!index_has_table(C.index_tmpl)) {
		bad_line(s, lineno, ev, "truncate: the index template has no {table}, so deleting "
			 "the index's documents would delete other tables' too", line, len, 0);
		return;
	}
	if (ev->pos.commit_lsn > (uint64_t)INT64_MAX) {
		bad_line(s, lineno, ev, "source.commit_lsn is too large for a document version",
			 line, len, 0);
		return;
	}
	/* A barrier: everything before it is applied, nothing after it is sent yet. */
	drain(s);
	if (s->fatal)
		finish(s, s->fatal);
	ord = ring_push(s, ev, 1);
	buf_reset(&scratch_index);
	index_name(C.index_tmpl, ev, &scratch_index);
	if (!C.dry_run)
		truncate_index(s, scratch_index.data, ev->pos.commit_lsn, lineno);
	slot_release(s, ord);
}

/* Append an action line: {"index":{"_index":..,"_id":..,"version":V,"version_type":..}} */
static void
add_action(struct buf *a, const char *verb, const struct buf *index, const struct buf *id,
	   uint64_t version)
{
	buf_addf(a, "{\"%s\":{\"_index\":", verb);
	json_add_str(a, index->data, index->len);
	buf_adds(a, ",\"_id\":");
	json_add_str(a, id->data, id->len);
	buf_adds(a, ",\"version\":");
	json_add_u64(a, version);
	buf_adds(a, ",\"version_type\":\"external_gte\"}}\n");
}

static bool
is_object(const char *v, size_t len)
{
	return v && len >= 2 && v[0] == '{';
}

static void
queue(struct sink *s, uint64_t ord, uint64_t lineno, const char *line, size_t len,
      const struct buf *id, uint64_t version, bool del, const char *doc, size_t doclen,
      enum toast_kind toast)
{
	uint64_t h = doc_hash(scratch_index.data, scratch_index.len, id->data, id->len);
	struct lane *ln = &s->lanes[h % (uint64_t)C.workers];

	buf_reset(&scratch_action);
	add_action(&scratch_action, del ? "delete" : "index", &scratch_index, id, version);
	lane_add(s, ln, ord, lineno, line, len, &scratch_action, del ? NULL : doc, doclen, h,
		 version, del, toast);
}

/* The document a soft delete leaves: the key columns and the marker. */
static void
soft_delete_doc(const struct event_info *ev, struct buf *doc)
{
	const char *k = ev->key;
	size_t n = ev->key_len;

	buf_reset(doc);
	while (n > 0 && k[n - 1] != '}')
		n--;
	buf_add(doc, k, n - 1);
	if (json_ws(k + 1, k + n - 1) != k + n - 1)
		buf_addc(doc, ',');
	buf_adds(doc, "\"" SOFT_DELETE_FIELD "\":true}");
}

/* A row whose key changed: its old document goes (or gets the soft-delete marker). */
static void
queue_old(struct sink *s, uint64_t ord, uint64_t lineno, const char *line, size_t len,
	  const struct event_info *ev)
{
	if (C.soft_delete) {
		/* The old key's marker document holds the old key columns. */
		struct event_info old = *ev;

		old.key = ev->before;
		old.key_len = ev->before_len;
		soft_delete_doc(&old, &scratch_doc);
		queue(s, ord, lineno, line, len, &scratch_old, ev->pos.commit_lsn, false,
		      scratch_doc.data, scratch_doc.len, false);
	} else {
		queue(s, ord, lineno, line, len, &scratch_old, ev->pos.commit_lsn, true, NULL, 0,
		      false);
	}
}

enum moved_toast { MT_MERGED, MT_STALE, MT_MISSING };

/* Whether a stored document (from _mget) can give values for an event of version v. */
static bool
doc_usable(const struct mget_doc *d, uint64_t v)
{
	const char *m;
	size_t mlen;

	if (d->err_type.p || !d->found || d->source == NULL)
		return false;
	if (C.soft_delete && raw_member(d->source, d->source_len, SOFT_DELETE_FIELD, &m, &mlen) &&
	    mlen == 4 && memcmp(m, "true", 4) == 0)
		return false;
	return !(d->has_version && d->version > v);
}

/* Append one {"_index":..,"_id":..,"_source":[cols]} of an _mget body. */
static void
mget_entry(struct buf *body, const struct buf *id, const char *cols, size_t clen)
{
	buf_adds(body, "{\"_index\":");
	json_add_str(body, scratch_index.data, scratch_index.len);
	buf_adds(body, ",\"_id\":");
	json_add_str(body, id->data, id->len);
	buf_adds(body, ",\"_source\":");
	while (clen > 0 && cols[clen - 1] != ']')
		clen--;
	buf_add(body, cols, clen - 1);
	if (C.soft_delete)
		buf_adds(body, ",\"" SOFT_DELETE_FIELD "\"");
	buf_adds(body, "]}");
}

/*
 * A row whose key changed keeps unchanged TOAST columns: their values are
 * in the document under the OLD id; the new id has none yet.  Once every
 * earlier action for either id is applied, read both and append after +
 * the columns to doc, taken from the old document or, when it is gone
 * (a re-delivery after this event was applied), from the new one.
 * MT_STALE: the new document is newer than the event, or the new id was
 * deleted by a later event (a delete at this version is refused), so the
 * event is already overtaken.  MT_MISSING: neither id has a document.
 */
static enum moved_toast
toast_moved(struct sink *s, const struct event_info *ev, const struct buf *old_id,
	    const struct buf *new_id, struct buf *doc)
{
	uint64_t v = ev->pos.commit_lsn;
	uint64_t ho = doc_hash(scratch_index.data, scratch_index.len, old_id->data, old_id->len);
	uint64_t hn = doc_hash(scratch_index.data, scratch_index.len, new_id->data, new_id->len);
	struct buf body = BUF_INIT;
	struct mget_doc d[2];
	const struct mget_doc *from = NULL;
	enum moved_toast r = MT_MISSING;
	const char *err;
	long st;

	lane_wait_doc(s, &s->lanes[ho % (uint64_t)C.workers], ho);
	lane_wait_doc(s, &s->lanes[hn % (uint64_t)C.workers], hn);
	buf_adds(&body, "{\"docs\":[");
	mget_entry(&body, old_id, ev->unchanged_toast, ev->unchanged_toast_len);
	buf_addc(&body, ',');
	mget_entry(&body, new_id, ev->unchanged_toast, ev->unchanged_toast_len);
	buf_adds(&body, "]}");
	for (int attempt = 1;; attempt++) {
		bool again = false;

		st = http_sync(s, "POST", "/_mget", body.data);
		if (st < 0)
			finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
		if (st != 200) {
			error("%s: _mget for a row whose key changed: HTTP %ld", C.nodes[s->node].url, st);
			finish(s, CDC_EXIT_FAILURE);
		}
		if (mgetresp_parse(s->sync_resp.data, s->sync_resp.len, d, 2, &err) != 2) {
			error("%s: malformed _mget response", C.nodes[s->node].url);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		/* A document the server could not read (other than a missing index): ask again. */
		for (int i = 0; i < 2; i++)
			again |= d[i].err_type.p && !json_span_eq(&d[i].err_type, "index_not_found_exception");
		if (!again)
			break;
		if (C.max_retries >= 0 && attempt > C.max_retries) {
			error("%s: _mget for a row whose key changed failed; giving up after %d retries",
			      C.nodes[s->node].url, attempt - 1);
			finish(s, CDC_EXIT_TEMPFAIL);
		}
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		usleep((useconds_t)(backoff_delay(&C, attempt) * 1000));
	}
	if (doc_usable(&d[0], v))
		from = &d[0];
	else if (doc_usable(&d[1], v))
		from = &d[1];
	else if (!d[1].err_type.p && d[1].found && d[1].has_version && d[1].version > v)
		r = MT_STALE;
	if (from) {
		buf_reset(doc);
		toast_merge(doc, ev->after, ev->after_len, ev->unchanged_toast,
			    ev->unchanged_toast_len, from->source, from->source_len);
		r = MT_MERGED;
	} else if (r == MT_MISSING && !C.soft_delete) {
		/*
		 * The new id's delete tombstone tells a re-delivery whose row was
		 * deleted or moved on later (409) from a row never indexed; a
		 * tombstone at v itself is a later event of this transaction, so
		 * the probe asks at v - 1 (see probe_missing() in lane.c).
		 */
		char *eid = curl_easy_escape(NULL, new_id->data, (int)new_id->len);
		struct buf path = BUF_INIT;

		buf_addf(&path, "/%s/_doc/%s?version=%llu&version_type=external_gte", scratch_index.data,
			 eid, (unsigned long long)(v > 0 ? v - 1 : 0));
		curl_free(eid);
		st = http_sync(s, "DELETE", path.data, NULL);
		if (st < 0)
			finish(s, st == -1 ? CDC_EXIT_TEMPFAIL : CDC_EXIT_FAILURE);
		if (st == 409)
			r = MT_STALE;
		buf_release(&path);
	}
	buf_release(&body);
	return r;
}

static void
handle_line(struct sink *s, const char *line, size_t len, uint64_t lineno)
{
	struct event_info ev;
	const char *err;
	size_t where;
	enum line_problem prob;
	char op;
	bool toast = false, moved = false;
	uint64_t ord;

	prob = text_check(line, len, &where);
	if (prob != LINE_OK) {
		char reason[96];

		text_problem_describe(prob, where, reason, sizeof(reason));
		bad_line(s, lineno, NULL, reason, line, len, 0);
		return;
	}
	if (event_scan(line, len, &ev, &err) < 0) {
		bad_line(s, lineno, NULL, err, line, len, 0);
		return;
	}
	s->st.events++;
	if (!ev.has_pos) {
		if (ev.control)
			return;		/* nothing to acknowledge */
		bad_line(s, lineno, &ev, "no source.commit_lsn and source.seq", line, len, 0);
		return;
	}
	if (ev.name.p && ev.name.len < sizeof(s->name) &&
	    !(ev.name.len == strlen(s->name) && memcmp(ev.name.p, s->name, ev.name.len) == 0)) {
		struct buf nm = BUF_INIT;

		json_span_decode(&ev.name, &nm);
		if (s->have_start && s->start.name[0] && nm.data && strcmp(nm.data, s->start.name) != 0)
			die("line %llu: events come from source %s but checkpoint %s is for %s",
			    (unsigned long long)lineno, nm.data, C.checkpoint_path, s->start.name);
		snprintf(s->name, sizeof(s->name), "%s", nm.data ? nm.data : "");
		buf_release(&nm);
	}
	if (s->have_start && pos_cmp(&ev.pos, &s->start.pos) <= 0) {
		s->st.skipped++;
		return;
	}
	if (ev.control || ev.op.p[0] == 'm') {
		ring_push(s, &ev, 0);
		return;
	}
	op = ev.op.p[0];
	if (op == 't') {
		do_truncate(s, lineno, &ev, line, len);
		return;
	}
	if (ev.pos.commit_lsn > (uint64_t)INT64_MAX) {
		bad_line(s, lineno, &ev, "source.commit_lsn is too large for a document version",
			 line, len, 0);
		return;
	}
	if (ev.table.p == NULL) {
		bad_line(s, lineno, &ev, "no source.table", line, len, 0);
		return;
	}
	buf_reset(&scratch_id);
	if (docid_from_key(ev.key, ev.key_len, &scratch_id, &err) < 0) {
		bad_line(s, lineno, &ev, err, line, len, 0);
		return;
	}
	if (op != 'd' && !is_object(ev.after, ev.after_len)) {
		bad_line(s, lineno, &ev, "\"after\" is not an object", line, len, 0);
		return;
	}
	buf_reset(&scratch_index);
	index_name(C.index_tmpl, &ev, &scratch_index);
	if (op == 'u') {
		const char *u = ev.unchanged_toast;
		size_t ulen = ev.unchanged_toast_len;

		toast = u && ulen > 2 && u[0] == '[' && json_ws(u + 1, u + ulen) < u + ulen - 1;
		/* A changed key: the row's old document goes, with the same version. */
		buf_reset(&scratch_old);
		if (is_object(ev.before, ev.before_len) &&
		    docid_from_image(ev.key, ev.key_len, ev.before, ev.before_len, &scratch_old,
				     &err) == 1 &&
		    (scratch_old.len != scratch_id.len ||
		     memcmp(scratch_old.data, scratch_id.data, scratch_id.len) != 0))
			moved = true;
	}
	if (!C.dry_run && (C.create_body || !C.soft_delete))
		ensure_index(s, scratch_index.data);
	if (moved && toast && !C.dry_run) {
		uint64_t h = doc_hash(scratch_index.data, scratch_index.len, scratch_id.data,
				      scratch_id.len);

		switch (toast_moved(s, &ev, &scratch_old, &scratch_id, &scratch_toast)) {
		case MT_STALE:
			s->st.stale++;
			ring_push(s, &ev, 0);
			return;
		case MT_MISSING:
			bad_line(s, lineno, &ev, "the key changed and neither the old nor the new id has "
				 "a stored document to take the unchanged TOAST columns from", line, len, 0);
			return;
		case MT_MERGED:
			break;
		}
		/*
		 * The new id's document is written first; the old one goes only
		 * once it is applied, so a stop in between leaves the old
		 * document for the re-delivered event to read again.
		 */
		ord = ring_push(s, &ev, 2);
		queue(s, ord, lineno, line, len, &scratch_id, ev.pos.commit_lsn, false,
		      scratch_toast.data, scratch_toast.len, TOAST_NONE);
		lane_wait_doc(s, &s->lanes[h % (uint64_t)C.workers], h);
		if (s->fatal)
			finish(s, s->fatal);
		queue_old(s, ord, lineno, line, len, &ev);
		return;
	}
	ord = ring_push(s, &ev, moved ? 2 : 1);
	if (moved)
		queue_old(s, ord, lineno, line, len, &ev);
	if (op == 'd') {
		if (C.soft_delete) {
			soft_delete_doc(&ev, &scratch_doc);
			queue(s, ord, lineno, line, len, &scratch_id, ev.pos.commit_lsn, false,
			      scratch_doc.data, scratch_doc.len, false);
		} else {
			queue(s, ord, lineno, line, len, &scratch_id, ev.pos.commit_lsn, true, NULL, 0,
			      false);
		}
	} else {
		queue(s, ord, lineno, line, len, &scratch_id, ev.pos.commit_lsn, false, ev.after,
		      ev.after_len, toast ? TOAST_SAME : TOAST_NONE);
	}
}

/* --- start-up checks --- */

/* An Elasticsearch byte size: "100mb", "10485760b", "1gb". */
static int
parse_es_size(const struct json_span *v, uint64_t *out)
{
	char tmp[32], *end;
	unsigned long long n;
	uint64_t mult = 1;

	if (v->len == 0 || v->len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	errno = 0;
	n = strtoull(tmp, &end, 10);
	if (errno || end == tmp)
		return -1;
	if (strcmp(end, "kb") == 0)
		mult = 1024;
	else if (strcmp(end, "mb") == 0)
		mult = 1024 * 1024;
	else if (strcmp(end, "gb") == 0)
		mult = (uint64_t)1 << 30;
	else if (strcmp(end, "") != 0 && strcmp(end, "b") != 0)
		return -1;
	*out = n * mult;
	return 0;
}

static void
on_max_content(const struct json_span *v, void *arg)
{
	uint64_t *min = arg, n;

	if (parse_es_size(v, &n) == 0 && n > 0 && (*min == 0 || n < *min))
		*min = n;
}

static void
startup_checks(struct sink *s)
{
	long st;
	uint64_t max_content = 0;

	st = http_sync(s, "GET", "/_cluster/settings?include_defaults=true"
		       "&filter_path=**.http.max_content_length", NULL);
	if (st == -1)
		finish(s, CDC_EXIT_TEMPFAIL);
	if (st == -2)
		finish(s, CDC_EXIT_FAILURE);
	if (st == 401)
		die("%s: authentication failed (HTTP 401): check CDC_ES_USER/CDC_ES_PASSWORD, "
		    "CDC_ES_API_KEY or the netrc file", C.nodes[s->node].url);
	if (st == 200)
		json_find_strings(s->sync_resp.data, s->sync_resp.len, "max_content_length",
				  on_max_content, &max_content);
	else
		info(1, "cannot read http.max_content_length (HTTP %ld); assuming 100mb", st);
	if (max_content == 0)
		max_content = 100 << 20;
	if (s->batch_bytes > max_content) {
		warning("--batch-bytes lowered to the server's http.max_content_length (%llu bytes)",
			(unsigned long long)max_content);
		s->batch_bytes = max_content;
	}
}

int
main(int argc, char **argv)
{
	struct sink *s = &S;
	struct linereader lr;
	const char *line;
	size_t len;
	const char *dlpath;
	bool skip;
	unsigned since_pump = 0;

	log_init(argv[0]);
	parse_args(argc, argv);
	s->cfg = &C;
	s->batch_bytes = C.batch_bytes;
	s->st.start_ms = mono_ms();
	s->st.last_metrics_ms = s->st.start_ms;
	srandom((unsigned)(now_ms() ^ getpid()));

	dlpath = s->dl.path;
	skip = s->dl.policy == BAD_SKIP;
	dl_init(&s->dl, dlpath, skip);

	if (C.checkpoint_path) {
		int r = checkpoint_read(C.checkpoint_path, &s->start);

		if (r < 0)
			exit(CDC_EXIT_FAILURE);
		s->have_start = r == 0;
		if (s->have_start) {
			char pos[POS_BUFSZ];

			memcpy(s->name, s->start.name, sizeof(s->name) - 1);
			s->wm = s->written = s->start.pos;
			s->wm_snapshot = s->start.snapshot;
			s->wm_valid = s->have_written = true;
			info(1, "resuming after %s (checkpoint %s)", pos_format(&s->start.pos, pos),
			     C.checkpoint_path);
		}
	}

	s->ring.cap = 1024;
	s->ring.s = xcalloc(s->ring.cap, sizeof(*s->ring.s));
	s->ring_max = (size_t)C.workers * C.batch_docs * 4;
	if (s->ring_max < 65536)
		s->ring_max = 65536;

	lanes_init(s);
	if (C.dry_run) {
		wr_init(&s->out, 1, 0);
	} else {
		http_init(s);
		startup_checks(s);
	}
	sig_setup();

	lr_init(&lr, 0, 0);
	lr_set_idle(&lr, on_idle, s);
	for (;;) {
		enum lr_status st = lr_next(&lr, &line, &len);

		if (st == LR_EOF)
			break;
		if (st == LR_INTR) {
			if (cdc_stop)
				finish(s, CDC_EXIT_OK);
			continue;
		}
		if (st == LR_ERROR)
			die_errno("read error on standard input");
		s->input_idle = false;
		if (st == LR_TOO_LONG)
			bad_line(s, lr.lineno, NULL, "line too long", line, len < LR_PREFIX ? len : LR_PREFIX,
				 len);
		else
			handle_line(s, line, len, lr.lineno);
		if (s->fatal)
			finish(s, s->fatal);
		if (cdc_stop)
			finish(s, CDC_EXIT_OK);
		if (++since_pump >= 64) {
			since_pump = 0;
			pump(s, 0, false, NULL);
		}
	}
	lr_free(&lr);
	finish(s, CDC_EXIT_OK);
}
