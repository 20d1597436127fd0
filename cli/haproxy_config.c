/*
 * haproxy_config: renders haproxy/haproxy.cfg.in; see haproxy_config.h.
 */
#include "haproxy_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void servers_write(FILE *f, const haproxy_params *p, const char *backend)
{
	for (int i = 0; i < p->n_servers; i++) {
		const haproxy_server *s = &p->servers[i];
		fprintf(f, "    server %s %s check addr %s port %d", s->name, s->pg_address, s->api_host, s->api_port);
		/* HTTPS health checks: the API's certificate verified, as any client of it would. */
		if (p->api_ca_file != NULL)
			fprintf(f, " check-ssl verify required ca-file %s", p->api_ca_file);
		fprintf(f, " agent-send \"%s %s\\n\"\n", backend, s->name);
	}
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
		/* A server list replaces its whole line, newline included. */
		if ((end - at == 11) && (memcmp(at, "@SERVERS_R", 10) == 0) && *s == '\n')
			s++;
	}
	fclose(f);
	return out;
}
