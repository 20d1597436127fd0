/*
 * runtime_api: HAProxy's Runtime API client and the parse of its server
 * state table; see runtime_api.h.
 */
#include "runtime_api.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hostport.h"

/* HAProxy's SRV_ADMF_* bits. */
#define ADMF_FMAINT 0x01
#define ADMF_IMAINT 0x02
#define ADMF_CMAINT 0x04
#define ADMF_FDRAIN 0x08
#define ADMF_IDRAIN 0x10
#define ADMF_RMAINT 0x20
#define ADMF_HMAINT 0x40
#define ADMF_MAINT (ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT | ADMF_HMAINT)
#define ADMF_DRAIN (ADMF_FDRAIN | ADMF_IDRAIN)

/* ---- the connection ---- */

static int wait_fd(int fd, short events, double deadline, const char *address, fl_err *err);

/*
 * Connects the non-blocking fd within the deadline. A blocking connect would
 * ignore the timeout: to a Unix socket whose listener's backlog is full (a
 * stopped or overloaded HAProxy) it waits until HAProxy accepts, to a TCP port
 * that drops SYNs it waits for the kernel's two minutes, the event loop frozen
 * meanwhile. A Unix socket refuses with EAGAIN while its backlog is full, so
 * that connect is retried; a TCP connect completes in the background.
 */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, double deadline, const char *address,
			  fl_err *err)
{
	while (connect(fd, sa, len) < 0) {
		if (errno == EAGAIN) {
			if (clock_mono() >= deadline)
				return fl_fail(err, FL_ERR_HAPROXY, "runtime api: %s did not answer in time", address);
			poll(NULL, 0, 10);
			continue;
		}
		if (errno != EINPROGRESS && errno != EINTR)
			return fl_fail(err, FL_ERR_HAPROXY, "runtime api: cannot connect to %s: %s", address,
				       strerror(errno));
		if (wait_fd(fd, POLLOUT, deadline, address, err) < 0)
			return -1;
		int e = 0;
		socklen_t elen = sizeof e;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e != 0)
			return fl_fail(err, FL_ERR_HAPROXY, "runtime api: cannot connect to %s: %s", address,
				       strerror(e));
		return 0;
	}
	return 0;
}

static int connect_unix(const char *path, double deadline, fl_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return fl_fail(err, FL_ERR_CONFIG, "runtime api: socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fl_fail(err, FL_ERR_HAPROXY, "runtime api: socket: %s", strerror(errno));
	if (connect_within(fd, (struct sockaddr *)&sa, sizeof sa, deadline, path, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(const char *address, double deadline, fl_err *err)
{
	char host[256], service[8];
	int port = 0;
	if (hostport_parse(address, host, sizeof host, &port) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "runtime api: %s is neither a socket path nor host:port", address);
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
	int rc = getaddrinfo(host, service, &hints, &ai);
	if (rc != 0)
		return fl_fail(err, FL_ERR_CONFIG, "runtime api: %s: %s", address, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		int e = errno;
		freeaddrinfo(ai);
		return fl_fail(err, FL_ERR_HAPROXY, "runtime api: socket: %s", strerror(e));
	}
	rc = connect_within(fd, ai->ai_addr, ai->ai_addrlen, deadline, address, err);
	freeaddrinfo(ai);
	if (rc < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for fd to be ready for `events` until the deadline; 0, or -1 with err set. */
static int wait_fd(int fd, short events, double deadline, const char *address, fl_err *err)
{
	for (;;) {
		double left = deadline - clock_mono();
		if (left <= 0)
			return fl_fail(err, FL_ERR_HAPROXY, "runtime api: %s did not answer in time", address);
		struct pollfd p = {.fd = fd, .events = events};
		int rc = poll(&p, 1, (int)(left * 1000) + 1);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return fl_fail(err, FL_ERR_HAPROXY, "runtime api: poll: %s", strerror(errno));
	}
}

int runtime_api_call(const char *address, const char *commands, double timeout, char **answer, fl_err *err)
{
	*answer = NULL;
	double deadline = clock_mono() + timeout;
	int fd = address[0] == '/' ? connect_unix(address, deadline, err) : connect_tcp(address, deadline, err);
	if (fd < 0)
		return -1;
	size_t len = strlen(commands), off = 0;
	char *line = malloc(len + 2);
	char *buf = NULL;
	if (line == NULL)
		goto oom;
	memcpy(line, commands, len);
	line[len++] = '\n';
	while (off < len) {
		if (wait_fd(fd, POLLOUT, deadline, address, err) < 0)
			goto fail;
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR && errno != EAGAIN) {
			fl_fail(err, FL_ERR_HAPROXY, "runtime api: sending to %s: %s", address, strerror(errno));
			goto fail;
		}
		off += w > 0 ? (size_t)w : 0;
	}
	size_t cap = 4096, used = 0;
	if ((buf = malloc(cap)) == NULL)
		goto oom;
	for (;;) {
		if (used + 1 >= cap) {
			if (cap >= RUNTIME_API_ANSWER_MAX) {
				fl_fail(err, FL_ERR_HAPROXY, "runtime api: %s answered more than %d bytes", address,
					RUNTIME_API_ANSWER_MAX);
				goto fail;
			}
			char *bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				goto oom;
			buf = bigger;
			cap *= 2;
		}
		if (wait_fd(fd, POLLIN, deadline, address, err) < 0)
			goto fail;
		ssize_t r = recv(fd, buf + used, cap - used - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && errno != EINTR && errno != EAGAIN) {
			fl_fail(err, FL_ERR_HAPROXY, "runtime api: reading from %s: %s", address, strerror(errno));
			goto fail;
		}
		used += r > 0 ? (size_t)r : 0;
	}
	buf[used] = '\0';
	free(line);
	close(fd);
	*answer = buf;
	return 0;
oom:
	fl_fail(err, FL_ERR_INTERNAL, "runtime api: out of memory");
fail:
	free(line);
	free(buf);
	close(fd);
	return -1;
}

/* ---- show servers state ---- */

/* The columns the proxy agent reads, found by name in the header line. */
enum { COL_BE_NAME, COL_SRV_NAME, COL_OP_STATE, COL_ADMIN_STATE, COL_UWEIGHT, COL_IWEIGHT, COL_COUNT };
static const char *const col_names[COL_COUNT] = {"be_name",         "srv_name",    "srv_op_state",
						 "srv_admin_state", "srv_uweight", "srv_iweight"};

#define STATE_MAX_FIELDS 64

/* Splits line (modified) on spaces into fields; returns their count, or -1 when more than max. */
static int split(char *line, char *fields[], int max)
{
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(line, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		fields[n++] = tok;
	}
	return n;
}

static int int_field(const char *text, int *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_header(char *line, int col[COL_COUNT], int *ncols, int lineno, fl_err *err)
{
	char *fields[STATE_MAX_FIELDS];
	int n = split(line + 1, fields, STATE_MAX_FIELDS);
	if (n < 0)
		return fl_fail(err, FL_ERR_HAPROXY,
			       "runtime api: show servers state: header (line %d) has too many columns", lineno);
	for (int c = 0; c < COL_COUNT; c++) {
		col[c] = -1;
		for (int i = 0; i < n; i++)
			if (strcmp(fields[i], col_names[c]) == 0)
				col[c] = i;
		if (col[c] < 0)
			return fl_fail(err, FL_ERR_HAPROXY,
				       "runtime api: show servers state: no column %s in the header (line %d)",
				       col_names[c], lineno);
	}
	*ncols = n;
	return 0;
}

static int parse_server(char *line, const int col[COL_COUNT], int ncols, runtime_server *s, int lineno, fl_err *err)
{
	char *fields[STATE_MAX_FIELDS];
	int n = split(line, fields, STATE_MAX_FIELDS);
	if (n < ncols)
		return fl_fail(err, FL_ERR_HAPROXY,
			       "runtime api: show servers state: line %d has %d columns, the header %d", lineno,
			       n < 0 ? STATE_MAX_FIELDS : n, ncols);
	memset(s, 0, sizeof *s);
	if (strlen(fields[col[COL_BE_NAME]]) >= sizeof s->backend ||
	    strlen(fields[col[COL_SRV_NAME]]) >= sizeof s->name)
		return fl_fail(err, FL_ERR_HAPROXY, "runtime api: show servers state: line %d: name too long", lineno);
	strcpy(s->backend, fields[col[COL_BE_NAME]]);
	strcpy(s->name, fields[col[COL_SRV_NAME]]);
	if (int_field(fields[col[COL_OP_STATE]], &s->op_state) < 0 ||
	    int_field(fields[col[COL_ADMIN_STATE]], &s->admin_state) < 0 ||
	    int_field(fields[col[COL_UWEIGHT]], &s->uweight) < 0 ||
	    int_field(fields[col[COL_IWEIGHT]], &s->iweight) < 0)
		return fl_fail(err, FL_ERR_HAPROXY,
			       "runtime api: show servers state: line %d: a state or weight is not a number", lineno);
	return 0;
}

int runtime_api_parse_state(const char *answer, runtime_server *out, int max, int *n, fl_err *err)
{
	*n = 0;
	char *copy = strdup(answer);
	if (copy == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "runtime api: out of memory");
	int col[COL_COUNT], ncols = 0, lineno = 0, rc = 0;
	bool version = false, header = false;
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (line[0] == '\0')
			continue;
		if (!version) {
			if (strcmp(line, "1") != 0)
				rc = fl_fail(err, FL_ERR_HAPROXY,
					     "runtime api: show servers state: version line is \"%.40s\", not 1", line);
			version = true;
		} else if (line[0] == '#') {
			rc = parse_header(line, col, &ncols, lineno, err);
			header = rc == 0;
		} else if (!header) {
			rc = fl_fail(err, FL_ERR_HAPROXY,
				     "runtime api: show servers state: line %d comes before the header", lineno);
		} else if (*n == max) {
			rc = fl_fail(err, FL_ERR_HAPROXY, "runtime api: show servers state: more than %d servers", max);
		} else if ((rc = parse_server(line, col, ncols, &out[*n], lineno, err)) == 0) {
			(*n)++;
		}
	}
	if (rc == 0 && !version)
		rc = fl_fail(err, FL_ERR_HAPROXY, "runtime api: show servers state: empty answer");
	free(copy);
	return rc;
}

/* ---- show stat ---- */

/* Splits a CSV line (modified) on commas, keeping empty fields; returns the count (columns past max are ignored). */
static int split_csv(char *line, char *fields[], int max)
{
	int n = 0;
	for (char *p = line;;) {
		if (n == max)
			return n;
		fields[n++] = p;
		char *comma = strchr(p, ',');
		if (comma == NULL)
			return n;
		*comma = '\0';
		p = comma + 1;
	}
}

#define STAT_MAX_FIELDS 256

int runtime_api_parse_stat(const char *answer, runtime_stat *out, int max, int *n, fl_err *err)
{
	*n = 0;
	char *copy = strdup(answer);
	if (copy == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "runtime api: out of memory");
	int px = -1, sv = -1, scur = -1, ncols = 0, lineno = 0, rc = 0;
	char *fields[STAT_MAX_FIELDS];
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (line[0] == '#') {
			char *h = line + 1 + (line[1] == ' ');
			ncols = split_csv(h, fields, STAT_MAX_FIELDS);
			for (int i = 0; i < ncols; i++) {
				if (strcmp(fields[i], "pxname") == 0)
					px = i;
				else if (strcmp(fields[i], "svname") == 0)
					sv = i;
				else if (strcmp(fields[i], "scur") == 0)
					scur = i;
			}
			if (px < 0 || sv < 0 || scur < 0)
				rc = fl_fail(err, FL_ERR_HAPROXY,
					     "runtime api: show stat: header (line %d) lacks pxname, svname or scur",
					     lineno);
			continue;
		}
		if (line[0] == '\0' || line[0] == '\r')
			continue;
		if (px < 0) {
			rc = fl_fail(err, FL_ERR_HAPROXY, "runtime api: show stat: line %d comes before the header",
				     lineno);
			break;
		}
		int got = split_csv(line, fields, STAT_MAX_FIELDS);
		if (got <= px || got <= sv || got <= scur) {
			rc = fl_fail(err, FL_ERR_HAPROXY,
				     "runtime api: show stat: line %d has %d columns, fewer than the header's", lineno,
				     got);
			break;
		}
		if (strcmp(fields[sv], "FRONTEND") == 0 || strcmp(fields[sv], "BACKEND") == 0)
			continue;
		if (*n == max) {
			rc = fl_fail(err, FL_ERR_HAPROXY, "runtime api: show stat: more than %d servers", max);
			break;
		}
		runtime_stat *st = &out[*n];
		int sessions = 0;
		if (strlen(fields[px]) >= sizeof st->backend || strlen(fields[sv]) >= sizeof st->name ||
		    int_field(fields[scur], &sessions) < 0) {
			rc = fl_fail(err, FL_ERR_HAPROXY,
				     "runtime api: show stat: line %d: a name is too long or scur is not a number",
				     lineno);
			break;
		}
		strcpy(st->backend, fields[px]);
		strcpy(st->name, fields[sv]);
		st->sessions = sessions;
		(*n)++;
	}
	if (rc == 0 && px < 0)
		rc = fl_fail(err, FL_ERR_HAPROXY, "runtime api: show stat: no header line");
	free(copy);
	return rc;
}

plan_seen runtime_api_seen(const runtime_server *s)
{
	plan_seen seen = {.known = true, .admin = PLAN_READY, .weight = 100};
	if (s->admin_state & ADMF_MAINT)
		seen.admin = PLAN_MAINT;
	else if (s->admin_state & ADMF_DRAIN)
		seen.admin = PLAN_DRAIN;
	if (s->iweight > 0)
		seen.weight = (int)((long)s->uweight * 100 / s->iweight);
	return seen;
}

const char *runtime_api_answer_problem(const char *answer, char *buf, int size)
{
	const char *p = answer;
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		size_t lead = strspn(p, " \t\r");
		if (lead < len) {
			size_t end = len;
			while (end > lead && (p[end - 1] == '\r' || p[end - 1] == ' '))
				end--;
			snprintf(buf, (size_t)size, "%.*s", (int)(end - lead), p + lead);
			return buf;
		}
		p += len + (p[len] == '\n');
	}
	return NULL;
}
