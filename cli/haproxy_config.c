/*
 * haproxy_config: renders haproxy/haproxy.cfg.in; see haproxy_config.h.
 */
#include "haproxy_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "common/hostport.h"

static void servers_write(FILE *f, const haproxy_params *p, const char *backend)
{
	for (int i = 0; i < p->n_servers; i++) {
		const haproxy_server *s = &p->servers[i];
		fprintf(f, "    server %s %s check", s->name, s->pg_address);
		/* Without addr the check follows the server's address, also when DNS moves it. */
		if (s->api_host != NULL)
			fprintf(f, " addr %s", s->api_host);
		fprintf(f, " port %d", s->api_port);
		/* A name that does not resolve yet (a member not started) leaves its server down, not HAProxy. */
		if (p->dns)
			fputs(" resolvers dns resolve-prefer ipv4 init-addr last,libc,none", f);
		/* HTTPS health checks: the API's certificate verified, as any client of it would. */
		if (p->api_ca_file != NULL)
			fprintf(f, " check-ssl verify required ca-file %s", p->api_ca_file);
		fprintf(f, " agent-send \"%s %s\\n\"\n", backend, s->name);
	}
}

/*
 * Containers: names asked every second of the servers /etc/resolv.conf
 * lists (Docker's embedded DNS), so a member started again under another
 * address is reached there within about a second. A name that stops
 * resolving (its container is gone) keeps its last address for 30 s.
 */
static void resolvers_write(FILE *f, const haproxy_params *p)
{
	if (!p->dns)
		return;
	fputs("resolvers dns\n"
	      "    parse-resolv-conf\n"
	      "    resolve_retries 3\n"
	      "    timeout resolve 1s\n"
	      "    timeout retry 1s\n"
	      "    hold valid 10s\n"
	      "    hold nx 30s\n"
	      "    hold obsolete 30s\n\n",
	      f);
}

/* Placeholders that stand for whole lines (or none): they replace their own line, newline included. */
static bool is_block(const char *name, size_t len)
{
	return (len == 10 && memcmp(name, "SERVERS_RW", 10) == 0) ||
	       (len == 10 && memcmp(name, "SERVERS_RO", 10) == 0) || (len == 9 && memcmp(name, "RESOLVERS", 9) == 0);
}

/* Writes the value of placeholder `name` (len bytes); -1 when it is not one. */
static int placeholder_write(FILE *f, const char *name, size_t len, const haproxy_params *p)
{
#define IS(word) (len == strlen(word) && memcmp(name, word, len) == 0)
	if (IS("RW_BIND"))
		fputs(p->rw_bind, f);
	else if (IS("RO_BIND"))
		fputs(p->ro_bind, f);
	else if (IS("METRICS_BIND"))
		fputs(p->metrics_bind, f);
	else if (IS("STATS_SOCKET"))
		fputs(p->stats_socket, f);
	else if (IS("STATE_FILE"))
		fputs(p->state_file, f);
	else if (IS("AGENT_ADDR"))
		fputs(p->agent_addr, f);
	else if (IS("AGENT_PORT"))
		fprintf(f, "%d", p->agent_port);
	else if (IS("MAX_LAG"))
		fputs(p->max_lag, f);
	else if (IS("MAXCONN"))
		fprintf(f, "%d", p->maxconn);
	else if (IS("SERVERS_RW"))
		servers_write(f, p, "rw");
	else if (IS("SERVERS_RO"))
		servers_write(f, p, "ro");
	else if (IS("RESOLVERS"))
		resolvers_write(f, p);
	else
		return -1;
	return 0;
#undef IS
}

char *haproxy_config_render(const char *tmpl, const haproxy_params *p, fl_err *err)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "haproxy config: out of memory");
		return NULL;
	}
	const char *s = tmpl;
	while (*s != '\0') {
		const char *at = strchr(s, '@');
		const char *end = at ? strchr(at + 1, '@') : NULL;
		if (at == NULL || end == NULL || memchr(at, '\n', (size_t)(end - at)) != NULL) {
			/* No placeholder on the rest of this line: copy it. */
			const char *nl = strchr(s, '\n');
			size_t n = nl ? (size_t)(nl - s) + 1 : strlen(s);
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		fwrite(s, 1, (size_t)(at - s), f);
		if (placeholder_write(f, at + 1, (size_t)(end - at - 1), p) < 0) {
			fclose(f);
			free(out);
			fl_fail(err, FL_ERR_INTERNAL, "haproxy config: unknown placeholder %.*s in the template",
				(int)(end - at + 1), at);
			return NULL;
		}
		s = end + 1;
		if (is_block(at + 1, (size_t)(end - at - 1)) && *s == '\n')
			s++;
	}
	fclose(f);
	return out;
}

/* Copies text[0..len) into buf (size cap) as a string; -1 when it does not fit. */
static int part_copy(char *buf, size_t cap, const char *text, size_t len)
{
	if (len >= cap)
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return 0;
}

int haproxy_server_parse(const char *spec, haproxy_server_spec *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	const char *eq = strchr(spec, '=');
	size_t name_len = eq ? (size_t)(eq - spec) : strlen(spec);
	if (part_copy(out->name, sizeof out->name, spec, name_len) < 0 || !cluster_name_valid(out->name))
		return fl_fail(err, FL_ERR_USAGE,
			       "server \"%s\": \"%.*s\" is not a node name (1 to 63 of a-z, 0-9, '_' and '-')", spec,
			       (int)(name_len > 80 ? 80 : name_len), spec);
	char host[256];
	int port = HAPROXY_PG_PORT;
	out->api_port = HAPROXY_API_PORT;
	if (eq == NULL) {
		snprintf(out->pg_address, sizeof out->pg_address, "%s:%d", out->name, port);
		return 0;
	}
	const char *pg = eq + 1;
	const char *comma = strchr(pg, ',');
	char pg_text[288];
	if (part_copy(pg_text, sizeof pg_text, pg, comma ? (size_t)(comma - pg) : strlen(pg)) < 0 ||
	    hostport_parse(pg_text, host, sizeof host, &port) < 0)
		return fl_fail(err, FL_ERR_USAGE, "server \"%s\": PostgreSQL's address is not host:port", spec);
	memcpy(out->pg_address, pg_text, sizeof out->pg_address);
	if (comma == NULL)
		return 0;
	const char *api = comma + 1;
	char *end = NULL;
	long n = strtol(api, &end, 10);
	if (api[0] >= '0' && api[0] <= '9' && *end == '\0') {
		if (n < 1 || n > 65535)
			return fl_fail(err, FL_ERR_USAGE, "server \"%s\": the API port %s is not in 1..65535", spec,
				       api);
		out->api_port = (int)n;
		return 0;
	}
	if (hostport_parse(api, out->api_host, sizeof out->api_host, &out->api_port) < 0)
		return fl_fail(err, FL_ERR_USAGE,
			       "server \"%s\": the API's address \"%s\" is neither host:port nor a port", spec, api);
	return 0;
}
