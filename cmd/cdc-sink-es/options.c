/*
 * cdc-sink-es's command line: the options, the server nodes, and the
 * credentials (from the environment or private files, never from argv).
 */
#include "sink.h"
#include "cli.h"
#include "docid.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "opt.h"
#include "timeutil.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
	"Usage: cdc-sink-es [OPTION]... --index TEMPLATE [FILE]...\n"
	"Apply change events from the FILEs (or standard input; \"-\" is standard input)\n"
	"to Elasticsearch or OpenSearch.\n"
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
	"      --alias TEMPLATE       at a clean end of input, point this alias (same\n"
	"                             placeholders) at the index written, and away from\n"
	"                             any other index (a rebuild into a new index)\n"
	"      --soft-delete          a delete indexes {key..., \"__deleted\":true} (keeps the version)\n"
	"      --truncate MODE        on truncate events: delete (default), skip or stop\n"
	"      --delete-unseen        at the end of an incremental snapshot of a whole table,\n"
	"                             delete the table's documents it did not see\n"
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
	"      --linger DURATION      when the input pauses, send a batch only once it is\n"
	"                             this old (default 5ms; 0: at once; a request in\n"
	"                             flight always lets the batches grow until it returns)\n"
	"  -w, --workers N            requests in flight (lanes; default 2)\n"
	"\n"
	"Checkpoint and errors:\n"
	"  -c, --checkpoint FILE      skip events at or below FILE's position; keep the\n"
	"                             position of what the index has in FILE\n"
	"      --checkpoint-interval DURATION  write FILE at most this often (default\n"
	"                             100ms; 0: at every move); always at exit\n"
	"\n"
	EVIN_HELP
	"\n"
	"Output:\n"
	"  -n, --dry-run              print the bulk request bodies instead of sending them\n"
	METRICS_HELP
	"\n"
	CLI_HELP
	"\n"
	"Exit status 65 includes an event the server can never take, 75 a server\n"
	"that stayed unreachable until the retries ran out.\n";

enum {
	OPT_TIMEOUT = 256, OPT_MAX_RETRIES, OPT_USER, OPT_PASSWORD_FILE, OPT_API_KEY_FILE,
	OPT_NETRC_FILE, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_INSECURE, OPT_SOFT_DELETE,
	OPT_TRUNCATE, OPT_CREATE_INDEX, OPT_PIPELINE, OPT_REFRESH, OPT_GZIP, OPT_BATCH_DOCS,
	OPT_BATCH_BYTES, OPT_BATCH_WAIT, OPT_BACKOFF, OPT_ALIAS, OPT_CHECKPOINT_INTERVAL, OPT_LINGER,
	OPT_DELETE_UNSEEN,
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
	{ "alias", required_argument, NULL, OPT_ALIAS },
	{ "soft-delete", no_argument, NULL, OPT_SOFT_DELETE },
	{ "truncate", required_argument, NULL, OPT_TRUNCATE },
	{ "delete-unseen", no_argument, NULL, OPT_DELETE_UNSEEN },
	{ "create-index", required_argument, NULL, OPT_CREATE_INDEX },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "refresh", optional_argument, NULL, OPT_REFRESH },
	{ "gzip", no_argument, NULL, OPT_GZIP },
	/* batching */
	{ "batch-docs", required_argument, NULL, OPT_BATCH_DOCS },
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "batch-wait", required_argument, NULL, OPT_BATCH_WAIT },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "workers", required_argument, NULL, 'w' },
	/* checkpoint and errors */
	{ "checkpoint", required_argument, NULL, 'c' },
	{ "checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT_INTERVAL },
	/* output */
	{ "dry-run", no_argument, NULL, 'n' },
	EVIN_OPTIONS,
	METRICS_OPTIONS,
	CLI_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

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
add_node(struct config *cfg, const char *url, size_t len, bool from_env)
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
		if (cfg->user == NULL) {
			cfg->user = curl_easy_unescape(NULL, auth, 0, NULL);
			if (colon)
				cfg->password = curl_easy_unescape(NULL, colon + 1, 0, NULL);
		}
		memmove(auth, at + 1, strlen(at + 1) + 1);
	}
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	cfg->nodes = xrealloc(cfg->nodes, (size_t)(cfg->nnodes + 1) * sizeof(*cfg->nodes));
	cfg->nodes[cfg->nnodes++].url = u;
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

/* --create-index FILE: a JSON object, read at start. */
static char *
read_index_body(const char *path)
{
	struct buf b = BUF_INIT;
	const char *err;

	int r = read_file(path, 16 << 20, false, &b);

	if (r == 1)
		die("cannot open %s: no such file", path);
	if (r < 0)
		die_errno("cannot read %s", path);
	if (b.len == 0 || json_skip(b.data, b.data + b.len, &err) == NULL ||
	    *json_ws(b.data, b.data + b.len) != '{')
		die("%s: not a JSON object", path);
	return buf_detach(&b, NULL);
}

/* The nodes: --url, else CDC_ES_URL (comma-separated). */
static void
find_nodes(struct config *cfg)
{
	if (cfg->nnodes == 0) {
		const char *env = getenv("CDC_ES_URL");

		while (env && *env) {
			const char *comma = strchr(env, ',');
			size_t n = comma ? (size_t)(comma - env) : strlen(env);

			if (n > 0)
				add_node(cfg, env, n, true);
			env = comma ? comma + 1 : NULL;
		}
	}
	if (cfg->nnodes == 0 && !cfg->dry_run)
		die_usage("no server: give --url or set CDC_ES_URL");
}

/* Credentials: the environment or private files, never argv. */
static void
find_credentials(struct config *cfg, const char *password_file, const char *api_key_file)
{
	if (cfg->user == NULL && getenv("CDC_ES_USER"))
		cfg->user = xstrdup(getenv("CDC_ES_USER"));
	if (password_file)
		cfg->password = read_private_file(password_file, "password");
	else if (cfg->password == NULL && getenv("CDC_ES_PASSWORD"))
		cfg->password = xstrdup(getenv("CDC_ES_PASSWORD"));
	if (api_key_file)
		cfg->api_key = read_private_file(api_key_file, "API key");
	else if (getenv("CDC_ES_API_KEY") && *getenv("CDC_ES_API_KEY"))
		cfg->api_key = xstrdup(getenv("CDC_ES_API_KEY"));
	if (cfg->password && cfg->user == NULL)
		die_usage("a password without a user: set CDC_ES_USER or --user");
	if (cfg->api_key && cfg->user)
		die_usage("give either an API key or a user and password, not both");
	if (cfg->netrc_file)
		check_private(cfg->netrc_file, "netrc");
}

void
options_parse(struct sink *s, int argc, char **argv, struct evin_opts *io)
{
	struct config *cfg = s->cfg;
	int c;
	uint64_t v;
	const char *password_file = NULL, *api_key_file = NULL;
	char why[96];

	cfg->workers = 2;
	cfg->batch_docs = 5000;
	cfg->batch_bytes = 5 << 20;
	cfg->batch_wait_ms = 1000;
	cfg->linger_ms = 5;
	cfg->checkpoint_interval_ms = 100;
	cfg->max_retries = 15;
	cfg->timeout_ms = 60000;
	cfg->backoff_ms = 250;
	cfg->backoff_max_ms = 30000;
	cfg->truncate = TRUNC_DELETE;
	opterr = 0;		/* its messages would repeat "--opt=VALUE" whole */
	while ((c = getopt_long(argc, argv, ":u:i:w:c:n" CLI_SHORTOPTS, options, NULL)) != -1) {
		if (evin_option(io, c, optarg) || metrics_option(&s->m, c, optarg))
			continue;
		switch (c) {
		case 'u':
			add_node(cfg, optarg, strlen(optarg), false);
			break;
		case OPT_TIMEOUT:
			if (duration_parse(optarg, &cfg->timeout_ms) < 0 || cfg->timeout_ms < 1)
				die_usage("bad --timeout: %s", optarg);
			break;
		case OPT_MAX_RETRIES:
			if (parse_int(optarg, 0, 1000000, &cfg->max_retries) < 0)
				die_usage("bad --max-retries: %s", optarg);
			break;
		case OPT_BACKOFF:
			if (duration_parse(optarg, &cfg->backoff_ms) < 0 || cfg->backoff_ms < 1)
				die_usage("bad --backoff: %s", optarg);
			break;
		case OPT_USER:
			cfg->user = xstrdup(optarg);
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
			cfg->netrc_file = optarg;
			break;
		case OPT_CACERT:
			cfg->cacert = optarg;
			break;
		case OPT_CERT:
			cfg->cert = optarg;
			break;
		case OPT_KEY:
			cfg->key = optarg;
			break;
		case OPT_INSECURE:
			cfg->insecure = true;
			break;
		case 'i':
			cfg->index_tmpl = optarg;
			break;
		case OPT_ALIAS:
			cfg->alias_tmpl = optarg;
			break;
		case OPT_SOFT_DELETE:
			cfg->soft_delete = true;
			break;
		case OPT_TRUNCATE:
			if (strcmp(optarg, "delete") == 0)
				cfg->truncate = TRUNC_DELETE;
			else if (strcmp(optarg, "skip") == 0)
				cfg->truncate = TRUNC_SKIP;
			else if (strcmp(optarg, "stop") == 0)
				cfg->truncate = TRUNC_STOP;
			else
				die_usage("bad --truncate: %s (delete, skip or stop)", optarg);
			break;
		case OPT_DELETE_UNSEEN:
			cfg->delete_unseen = true;
			break;
		case OPT_CREATE_INDEX:
			cfg->create_body = read_index_body(optarg);
			break;
		case OPT_PIPELINE:
			cfg->pipeline = optarg;
			break;
		case OPT_REFRESH:
			if (optarg == NULL || strcmp(optarg, "true") == 0)
				cfg->refresh = "true";
			else if (strcmp(optarg, "wait_for") == 0)
				cfg->refresh = "wait_for";
			else
				die_usage("bad --refresh: %s (true or wait_for)", optarg);
			break;
		case OPT_GZIP:
			cfg->gzip = true;
			break;
		case OPT_BATCH_DOCS:
			if (parse_u64(optarg, 1, 1000000, &cfg->batch_docs) < 0)
				die_usage("bad --batch-docs: %s", optarg);
			break;
		case OPT_BATCH_BYTES:
			if (parse_size(optarg, 1024, (uint64_t)1 << 31, &cfg->batch_bytes) < 0)
				die_usage("bad --batch-bytes: %s", optarg);
			break;
		case OPT_BATCH_WAIT:
			if (duration_parse(optarg, &cfg->batch_wait_ms) < 0)
				die_usage("bad --batch-wait: %s", optarg);
			break;
		case OPT_LINGER:
			if (duration_parse(optarg, &cfg->linger_ms) < 0 || cfg->linger_ms > 60 * 1000)
				die_usage("bad --linger: %s (0 to 1m)", optarg);
			break;
		case OPT_CHECKPOINT_INTERVAL:
			if (duration_parse(optarg, &cfg->checkpoint_interval_ms) < 0 ||
			    cfg->checkpoint_interval_ms > 3600 * 1000)
				die_usage("bad --checkpoint-interval: %s (0 to 1h)", optarg);
			break;
		case 'w':
			if (parse_u64(optarg, 1, 256, &v) < 0)
				die_usage("bad --workers: %s (1 to 256)", optarg);
			cfg->workers = (int)v;
			break;
		case 'c':
			cfg->checkpoint_path = optarg;
			break;
		case 'n':
			cfg->dry_run = true;
			break;
		default:
			cli_option(c, argv, options, usage_text);
		}
	}
	if (cfg->index_tmpl == NULL || cfg->index_tmpl[0] == '\0')
		die_usage("--index is required");
	if (index_template_check(cfg->index_tmpl, why, sizeof(why)) < 0)
		die_usage("--index %s: %s", cfg->index_tmpl, why);
	if (cfg->delete_unseen && !index_has_table(cfg->index_tmpl))
		die_usage("--delete-unseen needs {table} in --index: other tables' documents would go too");
	if (cfg->alias_tmpl && index_template_check(cfg->alias_tmpl, why, sizeof(why)) < 0)
		die_usage("--alias %s: %s", cfg->alias_tmpl, why);
	evin_check_options(io);
	if ((cfg->cert == NULL) != (cfg->key == NULL) && cfg->key)
		die_usage("--key needs --cert");

	find_nodes(cfg);
	find_credentials(cfg, password_file, api_key_file);
	if (cfg->insecure)
		warning("--insecure: the server's TLS certificate is not verified");
}

