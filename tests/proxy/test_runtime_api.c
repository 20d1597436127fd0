/*
 * test_runtime_api: HAProxy's Runtime API as the proxy agent speaks it. The
 * parse of `show servers state` on a real HAProxy 2.6 answer and the states
 * it yields (admin bits to ready/drain/maint, weight in percent), malformed
 * answers refused with a message naming the problem, the sessions per
 * server from `show stat`, the detection of an error in the answer to a
 * batch of commands, and runtime_api_call against
 * a socket served by a forked child: the command line it receives, a
 * server that never answers, one that never accepts (its backlog full), one
 * that answers too much, one that is absent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "proxy-agent/runtime_api.h"

/* `show servers state` of HAProxy 2.6 with rw/n1 in maintenance and ro/n3 drained at 75 %. */
static const char fixture[] =
	"1\n"
	"# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
	"srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
	"srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
	"srv_check_addr srv_agent_addr srv_agent_port\n"
	"4 rw 1 n1 127.0.0.1 0 1 100 100 3 17 2 0 14 22 0 0 - 41010 - 0 41011 127.0.0.1 127.0.0.1 41004\n"
	"4 rw 2 n2 127.0.0.1 2 0 100 100 3 15 3 2 6 22 0 0 - 41020 - 0 41021 127.0.0.1 127.0.0.1 41004\n"
	"5 ro 1 n1 127.0.0.1 2 0 100 100 3 15 3 3 6 22 0 0 - 41010 - 0 41011 127.0.0.1 127.0.0.1 41004\n"
	"5 ro 3 n3 127.0.0.1 2 8 75 100 3 15 3 3 6 22 0 0 - 41030 - 0 41031 127.0.0.1 127.0.0.1 41004\n"
	"\n";

#define HEADER "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n"
#define ROW "4 rw 1 n1 127.0.0.1 2 0 100 100\n"

static void test_real_answer_parses_into_each_server(void)
{
	runtime_server s[8];
	int n = -1;
	fl_err err = {0};
	CU_ASSERT_EQUAL_FATAL(runtime_api_parse_state(fixture, s, 8, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	static const struct {
		const char *backend, *name;
		int op, admin, uweight, iweight;
	} expect[] = {
		{"rw", "n1", 0, 1, 100, 100},
		{"rw", "n2", 2, 0, 100, 100},
		{"ro", "n1", 2, 0, 100, 100},
		{"ro", "n3", 2, 8, 75, 100},
	};
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_STRING_EQUAL(s[i].backend, expect[i].backend);
		CU_ASSERT_STRING_EQUAL(s[i].name, expect[i].name);
		CU_ASSERT_EQUAL(s[i].op_state, expect[i].op);
		CU_ASSERT_EQUAL(s[i].admin_state, expect[i].admin);
		CU_ASSERT_EQUAL(s[i].uweight, expect[i].uweight);
		CU_ASSERT_EQUAL(s[i].iweight, expect[i].iweight);
	}
}

static void test_real_answer_yields_the_seen_states(void)
{
	runtime_server s[8];
	int n = 0;
	CU_ASSERT_EQUAL_FATAL(runtime_api_parse_state(fixture, s, 8, &n, NULL), 0);
	static const struct {
		plan_admin admin;
		int weight;
	} expect[] = {{PLAN_MAINT, 100}, {PLAN_READY, 100}, {PLAN_READY, 100}, {PLAN_DRAIN, 75}};
	for (int i = 0; i < n; i++) {
		plan_seen seen = runtime_api_seen(&s[i]);
		CU_ASSERT_TRUE(seen.known);
		CU_ASSERT_EQUAL(seen.admin, expect[i].admin);
		CU_ASSERT_EQUAL(seen.weight, expect[i].weight);
	}
}

static void test_admin_bits_and_weights_map_to_seen_states(void)
{
	static const struct {
		int admin, uweight, iweight;
		plan_admin expect_admin;
		int expect_weight;
	} rows[] = {
		{0x00, 100, 100, PLAN_READY, 100}, /* no bit */
		{0x01, 100, 100, PLAN_MAINT, 100}, /* forced maintenance (set server ... state maint) */
		{0x02, 100, 100, PLAN_MAINT, 100}, /* inherited maintenance (track) */
		{0x04, 100, 100, PLAN_MAINT, 100}, /* configured disabled */
		{0x08, 100, 100, PLAN_DRAIN, 100}, /* forced drain */
		{0x10, 100, 100, PLAN_DRAIN, 100}, /* inherited drain */
		{0x20, 100, 100, PLAN_MAINT, 100}, /* resolution maintenance */
		{0x40, 100, 100, PLAN_MAINT, 100}, /* hostname maintenance */
		{0x09, 100, 100, PLAN_MAINT, 100}, /* maintenance wins over drain */
		{0x18, 100, 100, PLAN_DRAIN, 100},
		{0x00, 75, 100, PLAN_READY, 75},
		{0x00, 0, 100, PLAN_READY, 0},
		{0x00, 1, 3, PLAN_READY, 33},
		{0x00, 256, 256, PLAN_READY, 100},
		{0x00, 5, 0, PLAN_READY, 100}, /* no configured weight: nothing to compare with */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		runtime_server s = {
			.admin_state = rows[i].admin, .uweight = rows[i].uweight, .iweight = rows[i].iweight};
		plan_seen seen = runtime_api_seen(&s);
		if (seen.admin != rows[i].expect_admin || seen.weight != rows[i].expect_weight)
			fprintf(stderr, "\n  row %zu: admin %d weight %d", i, (int)seen.admin, seen.weight);
		CU_ASSERT_TRUE(seen.known);
		CU_ASSERT_EQUAL(seen.admin, rows[i].expect_admin);
		CU_ASSERT_EQUAL(seen.weight, rows[i].expect_weight);
	}
}

static void test_short_answers_parse(void)
{
	runtime_server s[2];
	int n = -1;
	/* A backend without servers: the version and the header only. */
	CU_ASSERT_EQUAL(runtime_api_parse_state("1\n" HEADER, s, 2, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 0);
	/* Only the columns read, in another order, and extra columns on a row. */
	CU_ASSERT_EQUAL(
		runtime_api_parse_state("1\n# srv_iweight srv_uweight srv_admin_state srv_op_state srv_name be_name\n"
					"100 50 8 2 db-1 ro extra\n",
					s, 2, &n, NULL),
		0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(s[0].backend, "ro");
	CU_ASSERT_STRING_EQUAL(s[0].name, "db-1");
	CU_ASSERT_EQUAL(s[0].uweight, 50);
	CU_ASSERT_EQUAL(s[0].admin_state, 8);
	/* Exactly as many servers as room. */
	CU_ASSERT_EQUAL(runtime_api_parse_state("1\n" HEADER ROW ROW, s, 2, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
}

/* clang-format off */
static const struct {
	const char *answer;
	int max;
	const char *expect; /* substring of the message */
} malformed[] = {
	{"", 8, "empty answer"},
	{"\n\n", 8, "empty answer"},
	{"2\n" HEADER ROW, 8, "version line is \"2\", not 1"},
	{"Can't find backend.\n", 8, "version line is \"Can't find backend.\""},
	{"Unknown command. Please enter one of the following commands only :\n", 8, "version line is"},
	{"1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_uweight srv_iweight\n" ROW, 8,
	 "no column srv_admin_state in the header (line 2)"},
	{"1\n# be_id srv_id\n", 8, "no column be_name"},
	{"1\n" HEADER "4 rw 1 n1 127.0.0.1 2\n", 8, "line 3 has 6 columns, the header 9"},
	{"1\n" HEADER ROW "4 rw 2 n2 127.0.0.1 2 0 100\n", 8, "line 4 has 8 columns, the header 9"},
	{"1\n" HEADER "4 rw 1 n1 127.0.0.1 up 0 100 100\n", 8, "line 3: a state or weight is not a number"},
	{"1\n" HEADER "4 rw 1 n1 127.0.0.1 2 0x1 100 100\n", 8, "line 3: a state or weight is not a number"},
	{"1\n" HEADER "4 rw 1 n1 127.0.0.1 2 0 -1 100\n", 8, "line 3: a state or weight is not a number"},
	{"1\n" HEADER "4 rw 1 n1 127.0.0.1 2 0 100 99999999999\n", 8, "line 3: a state or weight is not a number"},
	{"1\n" ROW HEADER, 8, "line 2 comes before the header"},
	{"1\n" HEADER ROW ROW ROW, 2, "more than 2 servers"},
	{"1\n" HEADER "4 rw 1 n1234567890123456789012345678901234567890123456789012345678901234 x 2 0 100 100\n", 8,
	 "line 3: name too long"},
};
/* clang-format on */

static void test_malformed_answers_are_refused_naming_the_problem(void)
{
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		runtime_server s[8];
		int n = -1;
		fl_err err = {0};
		int rc = runtime_api_parse_state(malformed[i].answer, s, malformed[i].max, &n, &err);
		if (rc != -1 || strstr(err.msg, malformed[i].expect) == NULL)
			fprintf(stderr, "\n  case %zu: rc %d \"%s\" lacks \"%s\"", i, rc, err.msg, malformed[i].expect);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_HAPROXY);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, malformed[i].expect));
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "show servers state"));
		CU_ASSERT(n >= 0 && n <= malformed[i].max);
	}
}

static void test_answer_problem_is_the_first_non_blank_line(void)
{
	char buf[64];
	CU_ASSERT_PTR_NULL(runtime_api_answer_problem("", buf, sizeof buf));
	CU_ASSERT_PTR_NULL(runtime_api_answer_problem("\n", buf, sizeof buf));
	CU_ASSERT_PTR_NULL(runtime_api_answer_problem("\n\n \r\n\t\n", buf, sizeof buf));
	CU_ASSERT_STRING_EQUAL(runtime_api_answer_problem("No such server.\n", buf, sizeof buf), "No such server.");
	CU_ASSERT_STRING_EQUAL(runtime_api_answer_problem("\nUnknown command\n", buf, sizeof buf), "Unknown command");
	CU_ASSERT_STRING_EQUAL(
		runtime_api_answer_problem("\n\n  Require 'backend/server'. \r\n\nNo such server.\n", buf, sizeof buf),
		"Require 'backend/server'.");
	CU_ASSERT_STRING_EQUAL(runtime_api_answer_problem("no newline", buf, sizeof buf), "no newline");
	CU_ASSERT_STRING_EQUAL(runtime_api_answer_problem("Permission denied\n", buf, 7), "Permis");
}

/* `show stat` of HAProxy 2.6 (its leading columns) with sessions on rw/n1 and ro/n3. */
static const char stat_fixture[] =
	"# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
	"act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,\n"
	"rw,FRONTEND,,,2,5,1234,40,5000,9000,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,\n"
	"rw,n1,0,0,2,3,,20,100,200,,0,,0,0,0,0,UP,100,1,0,0,0,50,0,,1,3,1,,20,,2,\n"
	"rw,n2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,100,1,0,0,0,50,0,,1,3,2,,0,,2,\n"
	"rw,BACKEND,0,0,2,3,123,20,100,200,0,0,,0,0,0,0,UP,100,1,0,,0,50,0,,1,3,0,,20,,1,\n"
	"ro,n3,0,0,7,9,,20,100,200,,0,,0,0,0,0,UP,75,1,0,0,0,50,0,,1,4,3,,20,,2,\n"
	"\n";

static void test_stat_answer_gives_sessions_per_server(void)
{
	runtime_stat st[4];
	int n = -1;
	fl_err err = {0};
	CU_ASSERT_EQUAL_FATAL(runtime_api_parse_stat(stat_fixture, st, 4, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(st[0].backend, "rw");
	CU_ASSERT_STRING_EQUAL(st[0].name, "n1");
	CU_ASSERT_EQUAL(st[0].sessions, 2);
	CU_ASSERT_STRING_EQUAL(st[1].name, "n2");
	CU_ASSERT_EQUAL(st[1].sessions, 0);
	CU_ASSERT_STRING_EQUAL(st[2].backend, "ro");
	CU_ASSERT_STRING_EQUAL(st[2].name, "n3");
	CU_ASSERT_EQUAL(st[2].sessions, 7);
	/* The header without its space, and only the columns read. */
	CU_ASSERT_EQUAL(runtime_api_parse_stat("#scur,svname,pxname\n5,db-1,ro\n", st, 4, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(st[0].name, "db-1");
	CU_ASSERT_EQUAL(st[0].sessions, 5);
	/* Frontends and backends do not count against the room. */
	CU_ASSERT_EQUAL(runtime_api_parse_stat(stat_fixture, st, 3, &n, &err), 0);
}

#define STAT_HEADER "# pxname,svname,qcur,qmax,scur,\n"

/* clang-format off */
static const struct {
	const char *answer;
	int max;
	const char *expect;
} stat_malformed[] = {
	{"", 4, "show stat: no header line"},
	{"\n", 4, "show stat: no header line"},
	{"Unknown command.\n", 4, "show stat: line 1 comes before the header"},
	{"# pxname,svname,qcur,qmax,smax\nrw,n1,0,0,1\n", 4, "header (line 1) lacks pxname, svname or scur"},
	{"# svname,scur\n", 4, "header (line 1) lacks pxname, svname or scur"},
	{STAT_HEADER "rw,n1,0\n", 4, "show stat: line 2 has 3 columns, fewer than the header's"},
	{STAT_HEADER "rw,n1,0,0,many,\n", 4, "show stat: line 2: a name is too long or scur is not a number"},
	{STAT_HEADER "rw,n1,0,0,,\n", 4, "show stat: line 2: a name is too long or scur is not a number"},
	{STAT_HEADER "rw,n12345678901234567890123456789012345678901234567890123456789012345,0,0,1,\n", 4,
	 "show stat: line 2: a name is too long"},
	{STAT_HEADER "rw,n1,0,0,1,\nrw,n2,0,0,1,\nrw,n3,0,0,1,\n", 2, "show stat: more than 2 servers"},
};
/* clang-format on */

static void test_malformed_stat_answers_are_refused_naming_the_problem(void)
{
	for (size_t i = 0; i < sizeof stat_malformed / sizeof stat_malformed[0]; i++) {
		runtime_stat st[4];
		int n = -1;
		fl_err err = {0};
		int rc = runtime_api_parse_stat(stat_malformed[i].answer, st, stat_malformed[i].max, &n, &err);
		if (rc != -1 || strstr(err.msg, stat_malformed[i].expect) == NULL)
			fprintf(stderr, "\n  case %zu: rc %d \"%s\" lacks \"%s\"", i, rc, err.msg,
				stat_malformed[i].expect);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_HAPROXY);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, stat_malformed[i].expect));
		CU_ASSERT(n >= 0 && n <= stat_malformed[i].max);
	}
}

/* --- runtime_api_call against a child process --- */

typedef enum serve_mode { SERVE_REPLY, SERVE_HANG, SERVE_FLOOD } serve_mode;

typedef struct server {
	pid_t pid;
	int received; /* read end of a pipe carrying what the child received */
	char path[108];
	char address[64];
} server;

static int listener_unix(server *srv)
{
	snprintf(srv->path, sizeof srv->path, "/tmp/test_runtime_api_%d.sock", (int)getpid());
	unlink(srv->path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", srv->path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0)
		return -1;
	snprintf(srv->address, sizeof srv->address, "%s", srv->path);
	return fd;
}

static int listener_tcp(server *srv)
{
	srv->path[0] = '\0';
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	snprintf(srv->address, sizeof srv->address, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

/* The child: accepts one connection, passes the line it reads to the parent, then answers as `mode` says. */
static void child(int listener, int report, serve_mode mode, const char *reply)
{
	signal(SIGPIPE, SIG_IGN);
	int fd = accept(listener, NULL, NULL);
	if (fd < 0)
		_exit(2);
	if (mode == SERVE_HANG)
		for (;;)
			pause();
	char line[512];
	size_t used = 0;
	while (used < sizeof line && (used == 0 || line[used - 1] != '\n')) {
		ssize_t r = read(fd, line + used, sizeof line - used);
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	if (write(report, line, used) < 0)
		_exit(3);
	close(report);
	if (mode == SERVE_FLOOD) {
		static char chunk[65536];
		memset(chunk, 'x', sizeof chunk);
		for (int i = 0; i < 32; i++)
			if (write(fd, chunk, sizeof chunk) < 0)
				break;
	} else if (write(fd, reply, strlen(reply)) < 0) {
		_exit(4);
	}
	close(fd);
	_exit(0);
}

static int serve(server *srv, bool tcp, serve_mode mode, const char *reply)
{
	int listener = tcp ? listener_tcp(srv) : listener_unix(srv);
	int report[2];
	if (listener < 0 || pipe(report) < 0)
		return -1;
	srv->pid = fork();
	if (srv->pid < 0)
		return -1;
	if (srv->pid == 0) {
		close(report[0]);
		child(listener, report[1], mode, reply);
	}
	close(listener);
	close(report[1]);
	srv->received = report[0];
	return 0;
}

/* Ends the child (which has answered, or never will), reads what it received, removes its socket. */
static void finish(server *srv, char *received, size_t size)
{
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, NULL, 0);
	size_t used = 0;
	ssize_t r;
	while (used + 1 < size && (r = read(srv->received, received + used, size - 1 - used)) > 0)
		used += (size_t)r;
	received[used] = '\0';
	close(srv->received);
	if (srv->path[0])
		unlink(srv->path);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_call_sends_one_line_and_reads_until_close(void)
{
	for (int tcp = 0; tcp < 2; tcp++) {
		server srv;
		CU_ASSERT_EQUAL_FATAL(serve(&srv, tcp, SERVE_REPLY, fixture), 0);
		char *answer = NULL;
		fl_err err = {0};
		int rc = runtime_api_call(srv.address, "show servers state rw;show servers state ro", 2.0, &answer,
					  &err);
		char received[512];
		finish(&srv, received, sizeof received);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(received, "show servers state rw;show servers state ro\n");
		CU_ASSERT_PTR_NOT_NULL_FATAL(answer);
		CU_ASSERT_STRING_EQUAL(answer, fixture);
		free(answer);
	}
}

static void test_call_times_out_naming_the_address(void)
{
	server srv;
	CU_ASSERT_EQUAL_FATAL(serve(&srv, false, SERVE_HANG, NULL), 0);
	char *answer = NULL;
	fl_err err = {0};
	double start = now();
	int rc = runtime_api_call(srv.address, "show servers state", 0.2, &answer, &err);
	double took = now() - start;
	char received[8];
	finish(&srv, received, sizeof received);
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_PTR_NULL(answer);
	CU_ASSERT_EQUAL(err.code, FL_ERR_HAPROXY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, srv.path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not answer in time"));
	CU_ASSERT(took >= 0.19 && took < 1.5);
}

/* A listener that never accepts, its backlog filled by connections of this process; -1 on failure. */
static int listener_full(server *srv, bool tcp, int queued[], int *n_queued)
{
	int fd = tcp ? listener_tcp(srv) : listener_unix(srv);
	if (fd < 0 || listen(fd, 0) < 0)
		return -1;
	*n_queued = 0;
	for (int i = 0; i < 8; i++) {
		int c = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (tcp) {
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
						 .sin_port = htons((uint16_t)atoi(strrchr(srv->address, ':') + 1))};
			connect(c, (struct sockaddr *)&sa, sizeof sa);
		} else {
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			snprintf(sa.sun_path, sizeof sa.sun_path, "%s", srv->path);
			connect(c, (struct sockaddr *)&sa, sizeof sa);
		}
		queued[(*n_queued)++] = c;
	}
	return fd;
}

/*
 * runtime_api_call in a child, so that a call that ignores its timeout shows
 * as a failure instead of a hung suite. The child writes "<rc> <seconds> <message>" to the pipe.
 */
static void call_guarded(const char *address, double timeout, char *report, size_t size)
{
	int p[2];
	report[0] = '\0';
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		char *answer = NULL;
		fl_err err = {0};
		double start = now();
		int rc = runtime_api_call(address, "show info", timeout, &answer, &err);
		dprintf(p[1], "%d %.3f %s", rc, now() - start, err.msg);
		free(answer);
		_exit(0);
	}
	close(p[1]);
	double give_up = now() + 5.0;
	while (waitpid(pid, NULL, WNOHANG) == 0 && now() < give_up)
		usleep(10000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ssize_t r = read(p[0], report, size - 1);
	report[r > 0 ? r : 0] = '\0';
	close(p[0]);
}

static void test_call_times_out_when_the_server_does_not_accept(void)
{
	for (int tcp = 0; tcp < 2; tcp++) {
		server srv;
		int queued[8], n = 0;
		int fd = listener_full(&srv, tcp, queued, &n);
		CU_ASSERT_FATAL(fd >= 0);
		char report[FL_ERR_MSG_MAX + 32];
		call_guarded(srv.address, 0.2, report, sizeof report);
		int rc = 0;
		double took = 99;
		if (sscanf(report, "%d %lf", &rc, &took) != 2)
			fprintf(stderr, "\n  %s: the call did not return within 5 s", srv.address);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT(took >= 0.19 && took < 1.5);
		CU_ASSERT_PTR_NOT_NULL(strstr(report, srv.address));
		CU_ASSERT_PTR_NOT_NULL(strstr(report, "did not answer in time"));
		for (int i = 0; i < n; i++)
			close(queued[i]);
		close(fd);
		if (srv.path[0])
			unlink(srv.path);
	}
}

static void test_call_refuses_an_answer_beyond_the_limit(void)
{
	server srv;
	CU_ASSERT_EQUAL_FATAL(serve(&srv, false, SERVE_FLOOD, NULL), 0);
	char *answer = NULL;
	fl_err err = {0};
	int rc = runtime_api_call(srv.address, "show stat", 5.0, &answer, &err);
	char received[64];
	finish(&srv, received, sizeof received);
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_PTR_NULL(answer);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "answered more than"));
}

static void test_call_to_an_absent_server_names_it(void)
{
	char *answer = NULL;
	fl_err err = {0};
	CU_ASSERT_EQUAL(runtime_api_call("/nonexistent/haproxy.sock", "show info", 0.5, &answer, &err), -1);
	CU_ASSERT_PTR_NULL(answer);
	CU_ASSERT_EQUAL(err.code, FL_ERR_HAPROXY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot connect to /nonexistent/haproxy.sock"));
	CU_ASSERT_EQUAL(runtime_api_call("haproxy.sock", "show info", 0.5, &answer, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "haproxy.sock is neither a socket path nor host:port"));
	char long_path[200];
	memset(long_path, 'p', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	CU_ASSERT_EQUAL(runtime_api_call(long_path, "show info", 0.5, &answer, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is too long"));
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("runtime_api", NULL, NULL);
	CU_add_test(s, "real answer parses into each server", test_real_answer_parses_into_each_server);
	CU_add_test(s, "real answer yields the seen states", test_real_answer_yields_the_seen_states);
	CU_add_test(s, "admin bits and weights map to seen states", test_admin_bits_and_weights_map_to_seen_states);
	CU_add_test(s, "short answers parse", test_short_answers_parse);
	CU_add_test(s, "malformed answers are refused naming the problem",
		    test_malformed_answers_are_refused_naming_the_problem);
	CU_add_test(s, "stat answer gives sessions per server", test_stat_answer_gives_sessions_per_server);
	CU_add_test(s, "malformed stat answers are refused naming the problem",
		    test_malformed_stat_answers_are_refused_naming_the_problem);
	CU_add_test(s, "answer problem is the first non-blank line", test_answer_problem_is_the_first_non_blank_line);
	CU_add_test(s, "call sends one line and reads until close", test_call_sends_one_line_and_reads_until_close);
	CU_add_test(s, "call times out naming the address", test_call_times_out_naming_the_address);
	CU_add_test(s, "call times out when the server does not accept",
		    test_call_times_out_when_the_server_does_not_accept);
	CU_add_test(s, "call refuses an answer beyond the limit", test_call_refuses_an_answer_beyond_the_limit);
	CU_add_test(s, "call to an absent server names it", test_call_to_an_absent_server_names_it);
}
