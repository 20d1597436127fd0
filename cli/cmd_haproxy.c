/*
 * cmd_haproxy: haproxy-config; see cmd_haproxy.h.
 */
#include "cmd_haproxy.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hostport.h"
#include "haproxy_config.h"

#define HAPROXY_MAX_SERVERS 64

enum {
	HC_RW = 0x200,
	HC_RO,
	HC_METRICS,
	HC_SOCKET,
	HC_STATE,
	HC_AGENT,
	HC_MAX_LAG,
	HC_MAXCONN,
	HC_CA,
	HC_DNS,
	HC_OUTPUT,
};

static void haproxy_config_usage(FILE *f)
{
	fprintf(f,
		"Usage: flotilla haproxy-config [OPTIONS] SERVER...\n\n"
		"Prints HAProxy's configuration for a cluster (rw port: the leader; ro port: the replicas\n"
		"by lag), rendered from the template `flotilla local up --haproxy` uses, for an HAProxy\n"
		"steered by flotilla-proxy-agent. Each SERVER is a member:\n"
		"  NAME                           PostgreSQL on NAME:%d, its REST API on NAME:%d\n"
		"  NAME=HOST:PORT                 PostgreSQL on HOST:PORT, the API on HOST:%d\n"
		"  NAME=HOST:PORT,API_PORT        ... the API on HOST:API_PORT\n"
		"  NAME=HOST:PORT,API_HOST:PORT   ... the API elsewhere\n\n"
		"  --rw-bind HOST:PORT       the read-write frontend (default 0.0.0.0:5000)\n"
		"  --ro-bind HOST:PORT       the read-only frontend (default 0.0.0.0:5001)\n"
		"  --metrics-bind HOST:PORT  Prometheus /metrics and /stats (default 0.0.0.0:8404)\n"
		"  --stats-socket PATH       the admin-level Runtime API socket (default /run/haproxy/admin.sock)\n"
		"  --state-file PATH         the server-state-file the proxy agent keeps (default "
		"/run/haproxy/server-state)\n"
		"  --agent HOST:PORT         where the proxy agent answers agent checks (default 127.0.0.1:5480)\n"
		"  --max-lag SIZE            the ro health check's lag limit (default 16MB)\n"
		"  --maxconn N               HAProxy's connection limit (default 1000)\n"
		"  --api-ca-file FILE        the REST APIs speak HTTPS, signed by this CA\n"
		"  --dns                     members are DNS names resolved at run time (containers)\n"
		"  -o, --output FILE         write FILE (replaced whole) instead of printing\n",
		HAPROXY_PG_PORT, HAPROXY_API_PORT, HAPROXY_API_PORT);
}

typedef struct hc_args {
	haproxy_params p;
	char agent_host[256];
	const char *output;
	bool help;
} hc_args;

static int hc_address(const char *opt, const char *value, fl_err *err)
{
	if (!hostport_valid(value))
		return fl_fail(err, FL_ERR_USAGE, "haproxy-config: --%s \"%s\" is not host:port", opt, value);
	return 0;
}

/* A path in HAProxy's configuration: absolute, no space, quote or control character. */
static int hc_path(const char *opt, const char *value, fl_err *err)
{
	bool ok = value[0] == '/' && strlen(value) < PATH_MAX;
	for (const char *c = value; ok && *c; c++)
		ok = (unsigned char)*c > ' ' && *c != '"' && *c != '\'' && *c != '\\' && *c != '#' && *c != 0x7f;
	if (!ok)
		return fl_fail(err, FL_ERR_USAGE,
			       "haproxy-config: --%s \"%s\" is not an absolute path without spaces, quotes or '#'", opt,
			       value);
	return 0;
}

/* The lag limit goes into a URL: digits and an optional unit (kB, MB, GB, TB) only. */
static int hc_size(const char *value, fl_err *err)
{
	size_t digits = strspn(value, "0123456789");
	const char *unit = value + digits;
	if (digits == 0 || digits > 15 ||
	    !(unit[0] == '\0' || strcmp(unit, "B") == 0 || strcmp(unit, "kB") == 0 || strcmp(unit, "MB") == 0 ||
	      strcmp(unit, "GB") == 0 || strcmp(unit, "TB") == 0))
		return fl_fail(err, FL_ERR_USAGE, "haproxy-config: --max-lag \"%s\" is not a size (e.g. 16MB)", value);
	return 0;
}

static int hc_option(hc_args *a, int c, const char *v, fl_err *err)
{
	haproxy_params *p = &a->p;
	switch (c) {
	case HC_RW:
		p->rw_bind = v;
		return hc_address("rw-bind", v, err);
	case HC_RO:
		p->ro_bind = v;
		return hc_address("ro-bind", v, err);
	case HC_METRICS:
		p->metrics_bind = v;
		return hc_address("metrics-bind", v, err);
	case HC_SOCKET:
		p->stats_socket = v;
		return hc_path("stats-socket", v, err);
	case HC_STATE:
		p->state_file = v;
		return hc_path("state-file", v, err);
	case HC_CA:
		p->api_ca_file = v;
		return hc_path("api-ca-file", v, err);
	case HC_AGENT:
		if (hostport_parse(v, a->agent_host, sizeof a->agent_host, &p->agent_port) < 0)
			return fl_fail(err, FL_ERR_USAGE, "haproxy-config: --agent \"%s\" is not host:port", v);
		return 0;
	case HC_MAX_LAG:
		p->max_lag = v;
		return hc_size(v, err);
	case HC_MAXCONN: {
		char *end = NULL;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < 1 || n > 1000000)
			return fl_fail(err, FL_ERR_USAGE, "haproxy-config: --maxconn \"%s\" is not in 1..1000000", v);
		p->maxconn = (int)n;
		return 0;
	}
	case HC_DNS:
		p->dns = true;
		return 0;
	case 'o':
		a->output = v;
		return 0;
	case 'h':
		a->help = true;
		return 0;
	default:
		return fl_fail(err, FL_ERR_USAGE,
			       "haproxy-config: bad option\nHINT: run flotilla haproxy-config --help");
	}
}

/* Writes text to path through a temporary file renamed over it: a reader sees the old file or the new. */
static int hc_write(const char *path, const char *text, fl_err *err)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return fl_fail(err, FL_ERR_USAGE, "haproxy-config: --output path too long");
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return fl_fail(err, FL_ERR_IO, "haproxy-config: cannot write %s: %s", tmp, strerror(errno));
	bool ok = fputs(text, f) >= 0 && fchmod(fileno(f), 0644) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return fl_fail(err, FL_ERR_IO, "haproxy-config: cannot write %s: %s", path, strerror(saved));
	}
	return 0;
}

int cmd_haproxy_config(int argc, char **argv, fl_err *err)
{
	static const struct option longopts[] = {
		{"rw-bind", required_argument, NULL, HC_RW},
		{"ro-bind", required_argument, NULL, HC_RO},
		{"metrics-bind", required_argument, NULL, HC_METRICS},
		{"stats-socket", required_argument, NULL, HC_SOCKET},
		{"state-file", required_argument, NULL, HC_STATE},
		{"agent", required_argument, NULL, HC_AGENT},
		{"max-lag", required_argument, NULL, HC_MAX_LAG},
		{"maxconn", required_argument, NULL, HC_MAXCONN},
		{"api-ca-file", required_argument, NULL, HC_CA},
		{"dns", no_argument, NULL, HC_DNS},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	hc_args a = {.p = {.rw_bind = "0.0.0.0:5000",
			   .ro_bind = "0.0.0.0:5001",
			   .metrics_bind = "0.0.0.0:8404",
			   .stats_socket = "/run/haproxy/admin.sock",
			   .state_file = "/run/haproxy/server-state",
			   .agent_port = 5480,
			   .max_lag = "16MB",
			   .maxconn = 1000}};
	snprintf(a.agent_host, sizeof a.agent_host, "127.0.0.1");
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return fl_fail(err, FL_ERR_USAGE,
				       "haproxy-config: unknown option or missing value \"%s\"\nHINT: run flotilla "
				       "haproxy-config --help",
				       argv[optind - 1]);
		if (hc_option(&a, c, optarg, err) < 0)
			return -1;
	}
	if (a.help) {
		haproxy_config_usage(stdout);
		return 0;
	}
	int n = argc - optind;
	if (n < 1)
		return fl_fail(err, FL_ERR_USAGE,
			       "haproxy-config: which servers?\nHINT: flotilla haproxy-config db1 db2 db3");
	if (n > HAPROXY_MAX_SERVERS)
		return fl_fail(err, FL_ERR_USAGE, "haproxy-config: %d servers, at most %d", n, HAPROXY_MAX_SERVERS);
	static haproxy_server_spec specs[HAPROXY_MAX_SERVERS];
	haproxy_server servers[HAPROXY_MAX_SERVERS];
	for (int i = 0; i < n; i++) {
		if (haproxy_server_parse(argv[optind + i], &specs[i], err) < 0) {
			fl_err_prefix(err, "haproxy-config");
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(specs[j].name, specs[i].name) == 0)
				return fl_fail(err, FL_ERR_USAGE, "haproxy-config: server \"%s\" given twice",
					       specs[i].name);
		servers[i] = (haproxy_server){specs[i].name, specs[i].pg_address,
					      specs[i].api_host[0] ? specs[i].api_host : NULL, specs[i].api_port};
	}
	a.p.agent_addr = a.agent_host;
	a.p.servers = servers;
	a.p.n_servers = n;
	char *cfg = haproxy_config_render(haproxy_template, &a.p, err);
	if (cfg == NULL)
		return -1;
	int rc = 0;
	if (a.output != NULL)
		rc = hc_write(a.output, cfg, err);
	else if (fputs(cfg, stdout) < 0 || fflush(stdout) != 0)
		rc = fl_fail(err, FL_ERR_IO, "haproxy-config: cannot write the configuration: %s", strerror(errno));
	free(cfg);
	return rc;
}
