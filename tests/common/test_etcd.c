/*
 * test_etcd: the etcd client against a real etcd started on loopback ports in
 * a temporary directory, plus fake servers forked by the test: one that
 * accepts and never answers, one whose backlog is full so SYNs go unanswered,
 * and one that answers canned bytes to check that malformed answers are
 * errors and never crashes.
 */
#include "cunit_main.h"

#include "common/clock.h"
#include "common/etcd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char data_dir[] = "/tmp/flotilla-test-etcd-XXXXXX";
static bool dir_made;
static pid_t etcd_pid;
static char etcd_url[64];
static etcd *cli;

/* ---- sockets and child processes ---- */

static int listen_loopback(int backlog, int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port nobody listens on: connecting to it is refused. */
static int free_port(void)
{
	int port = 0;
	int fd = listen_loopback(1, &port);
	close(fd);
	return port;
}

static void url_of(char *out, size_t size, int port) { snprintf(out, size, "http://127.0.0.1:%d", port); }

static void child_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Reads one HTTP request: headers, then Content-Length bytes of body. */
static void request_read(int fd)
{
	char buf[65536];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
		if (r <= 0)
			return;
		got += (size_t)r;
		buf[got] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		char *cl = strcasestr(buf, "content-length:");
		size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (got >= want || got >= sizeof buf - 1)
			return;
	}
}

static void write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

typedef enum fake_mode {
	FAKE_SILENT,      /* accepts, reads, never answers, never closes */
	FAKE_ANSWER,      /* answers each request and closes without saying so */
	FAKE_ANSWER_ONCE, /* answers the first request of a connection, hangs up on the second */
} fake_mode;

/* Forks a server on a loopback port that serves `response` as mode says. */
static pid_t fake_start(fake_mode mode, const char *response, int *port)
{
	int fd = listen_loopback(16, port);
	if (fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				_exit(0);
			request_read(c);
			if (mode == FAKE_SILENT)
				continue;
			write_all(c, response);
			if (mode == FAKE_ANSWER_ONCE)
				request_read(c);
			close(c);
		}
	}
	close(fd);
	return pid;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- the real etcd ---- */

static pid_t etcd_spawn(int client_port, int peer_port)
{
	char client[64], peer[64], cluster[96], dir[128], log[160];
	url_of(client, sizeof client, client_port);
	url_of(peer, sizeof peer, peer_port);
	snprintf(cluster, sizeof cluster, "default=%s", peer);
	snprintf(dir, sizeof dir, "%s/data", data_dir);
	snprintf(log, sizeof log, "%s/etcd.log", data_dir);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execlp("etcd", "etcd", "--data-dir", dir, "--name", "default", "--listen-client-urls", client,
	       "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
	       "--initial-cluster", cluster, (char *)NULL);
	_exit(127);
}

static bool etcd_wait_ready(double seconds)
{
	double until = clock_mono() + seconds;
	while (clock_mono() < until) {
		etcd_kv kv;
		bool found;
		if (etcd_get(cli, "/ready-probe", &kv, &found, NULL) == 0)
			return true;
		if (waitpid(etcd_pid, NULL, WNOHANG) == etcd_pid) {
			etcd_pid = 0;
			return false;
		}
		clock_sleep(0.1);
	}
	return false;
}

/* Never fails: a suite whose set-up fails would not count as failed; the tests assert on cli instead. */
static int suite_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(data_dir) == NULL)
		return 0;
	dir_made = true;
	int client_port = free_port();
	url_of(etcd_url, sizeof etcd_url, client_port);
	etcd_pid = etcd_spawn(client_port, free_port());
	return 0;
}

static int suite_clean(void)
{
	etcd_free(cli);
	cli = NULL;
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		double until = clock_mono() + 5.0;
		while (waitpid(etcd_pid, NULL, WNOHANG) == 0 && clock_mono() < until)
			clock_sleep(0.05);
		child_stop(etcd_pid);
	}
	if (dir_made)
		nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- fixtures of a test ---- */

static etcd *client_of(const char *const *urls, int n, double timeout)
{
	fl_err err = {0};
	etcd *e = etcd_new((char *const *)urls, n, NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	etcd_set_timeout(e, timeout);
	return e;
}

static void need_etcd(void) { CU_ASSERT_PTR_NOT_NULL_FATAL(cli); }

static void assert_value(const char *key, const char *want)
{
	etcd_kv kv;
	bool found = true;
	fl_err err = {0};
	CU_ASSERT_EQUAL_FATAL(etcd_get(cli, key, &kv, &found, &err), 0);
	if (want == NULL) {
		CU_ASSERT_FALSE(found);
		CU_ASSERT_PTR_NULL(kv.key);
		CU_ASSERT_PTR_NULL(kv.value);
	} else {
		CU_ASSERT_TRUE_FATAL(found);
		CU_ASSERT_STRING_EQUAL(kv.key, key);
		CU_ASSERT_STRING_EQUAL(kv.value, want);
	}
	etcd_kv_clear(&kv);
}

/* ---- against the real etcd ---- */

/* The first test makes the suite's client, so that a failed start of etcd shows as a failed test. */
static void test_etcd_starts_and_answers(void)
{
	CU_ASSERT_TRUE_FATAL(etcd_pid > 0);
	const char *urls[] = {etcd_url};
	cli = etcd_new((char *const *)urls, 1, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cli);
	if (!etcd_wait_ready(20.0)) {
		etcd_free(cli);
		cli = NULL;
		CU_FAIL_FATAL("etcd did not answer within 20 s; see its etcd.log");
	}
}

static void test_put_then_get_returns_value_and_revisions(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/get/a", "one", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/get/a", "two", 0, &err), 0);
	etcd_kv kv;
	bool found = false;
	CU_ASSERT_EQUAL_FATAL(etcd_get(cli, "/t/get/a", &kv, &found, &err), 0);
	CU_ASSERT_TRUE_FATAL(found);
	CU_ASSERT_STRING_EQUAL(kv.value, "two");
	CU_ASSERT_TRUE(kv.create_revision > 0);
	CU_ASSERT_TRUE(kv.mod_revision > kv.create_revision);
	CU_ASSERT_EQUAL(kv.lease, 0);
	etcd_kv_clear(&kv);
	assert_value("/t/get/absent", NULL);
}

static void test_empty_value_and_unusual_bytes_round_trip(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/bytes/empty", "", 0, &err), 0);
	assert_value("/t/bytes/empty", "");
	const char *odd = "ünïcode \"quoted\" \\ / \n\t\x01\xff+=";
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/bytes/odd \xfe", odd, 0, &err), 0);
	assert_value("/t/bytes/odd \xfe", odd);
}

static void test_get_prefix_returns_only_prefixed_keys_sorted(void)
{
	need_etcd();
	fl_err err = {0};
	const char *puts[][2] = {{"/t/pre/b", "2"}, {"/t/pre/a", "1"}, {"/t/pre/c", "3"},
				 {"/t/pre0", "x"},  {"/t/prd", "y"},   {"/t/pre", "z"}};
	for (size_t i = 0; i < sizeof puts / sizeof puts[0]; i++)
		CU_ASSERT_EQUAL(etcd_put(cli, puts[i][0], puts[i][1], 0, &err), 0);
	etcd_kvs kvs;
	CU_ASSERT_EQUAL_FATAL(etcd_get_prefix(cli, "/t/pre/", &kvs, &err), 0);
	CU_ASSERT_EQUAL_FATAL(kvs.n, 3);
	CU_ASSERT_STRING_EQUAL(kvs.v[0].key, "/t/pre/a");
	CU_ASSERT_STRING_EQUAL(kvs.v[1].key, "/t/pre/b");
	CU_ASSERT_STRING_EQUAL(kvs.v[2].key, "/t/pre/c");
	CU_ASSERT_STRING_EQUAL(kvs.v[2].value, "3");
	CU_ASSERT_TRUE(kvs.revision >= kvs.v[2].mod_revision);
	etcd_kvs_free(&kvs);
	CU_ASSERT_EQUAL_FATAL(etcd_get_prefix(cli, "/t/none/", &kvs, &err), 0);
	CU_ASSERT_EQUAL(kvs.n, 0);
	CU_ASSERT_PTR_NULL(kvs.v);
	CU_ASSERT_TRUE(kvs.revision > 0);
	etcd_kvs_free(&kvs);
}

static void test_get_prefix_handles_0xff_and_empty_prefix(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/ff\xff", "1", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/ff\xff\xff", "2", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/fg", "3", 0, &err), 0);
	etcd_kvs kvs;
	CU_ASSERT_EQUAL_FATAL(etcd_get_prefix(cli, "/t/ff\xff", &kvs, &err), 0);
	CU_ASSERT_EQUAL(kvs.n, 2);
	etcd_kvs_free(&kvs);
	CU_ASSERT_EQUAL_FATAL(etcd_get_prefix(cli, "", &kvs, &err), 0);
	CU_ASSERT_TRUE(kvs.n >= 3);
	etcd_kvs_free(&kvs);
}

static void test_delete_removes_key_and_tolerates_absent_key(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/del/a", "1", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_delete(cli, "/t/del/a", &err), 0);
	assert_value("/t/del/a", NULL);
	CU_ASSERT_EQUAL(etcd_delete(cli, "/t/del/a", &err), 0);
}

static void test_create_on_absent_key_creates_and_on_present_key_does_not(void)
{
	need_etcd();
	fl_err err = {0};
	bool created = false;
	CU_ASSERT_EQUAL(etcd_create(cli, "/t/create/leader", "n1", 0, &created, &err), 0);
	CU_ASSERT_TRUE(created);
	created = true;
	CU_ASSERT_EQUAL(etcd_create(cli, "/t/create/leader", "n2", 0, &created, &err), 0);
	CU_ASSERT_FALSE(created);
	assert_value("/t/create/leader", "n1");
}

static void test_put_if_value_only_when_value_matches(void)
{
	need_etcd();
	fl_err err = {0};
	bool done = true;
	CU_ASSERT_EQUAL(etcd_put_if_value(cli, "/t/cas/absent", "", "x", 0, &done, &err), 0);
	CU_ASSERT_FALSE(done);
	assert_value("/t/cas/absent", NULL);
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/cas/k", "n1", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_put_if_value(cli, "/t/cas/k", "n2", "n3", 0, &done, &err), 0);
	CU_ASSERT_FALSE(done);
	assert_value("/t/cas/k", "n1");
	CU_ASSERT_EQUAL(etcd_put_if_value(cli, "/t/cas/k", "n1", "n3", 0, &done, &err), 0);
	CU_ASSERT_TRUE(done);
	assert_value("/t/cas/k", "n3");
}

static void test_delete_if_value_only_when_value_matches(void)
{
	need_etcd();
	fl_err err = {0};
	bool done = true;
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/cad/k", "n1", 0, &err), 0);
	CU_ASSERT_EQUAL(etcd_delete_if_value(cli, "/t/cad/k", "n2", &done, &err), 0);
	CU_ASSERT_FALSE(done);
	assert_value("/t/cad/k", "n1");
	CU_ASSERT_EQUAL(etcd_delete_if_value(cli, "/t/cad/k", "n1", &done, &err), 0);
	CU_ASSERT_TRUE(done);
	assert_value("/t/cad/k", NULL);
	CU_ASSERT_EQUAL(etcd_delete_if_value(cli, "/t/cad/k", "n1", &done, &err), 0);
	CU_ASSERT_FALSE(done);
}

static void test_lease_grant_keepalive_ttl_and_revoke_drops_bound_key(void)
{
	need_etcd();
	fl_err err = {0};
	int64_t id = 0;
	CU_ASSERT_EQUAL_FATAL(etcd_lease_grant(cli, 10, &id, &err), 0);
	CU_ASSERT_TRUE_FATAL(id != 0);
	long ttl = -5;
	CU_ASSERT_EQUAL(etcd_lease_ttl(cli, id, &ttl, &err), 0);
	CU_ASSERT_TRUE(ttl >= 8 && ttl <= 10);
	CU_ASSERT_EQUAL(etcd_lease_keepalive(cli, id, &ttl, &err), 0);
	CU_ASSERT_EQUAL(ttl, 10);

	bool created = false;
	CU_ASSERT_EQUAL(etcd_create(cli, "/t/lease/leader", "n1", id, &created, &err), 0);
	CU_ASSERT_TRUE(created);
	etcd_kv kv;
	bool found = false;
	CU_ASSERT_EQUAL_FATAL(etcd_get(cli, "/t/lease/leader", &kv, &found, &err), 0);
	CU_ASSERT_TRUE(found);
	CU_ASSERT_EQUAL(kv.lease, id);
	etcd_kv_clear(&kv);

	CU_ASSERT_EQUAL(etcd_lease_revoke(cli, id, &err), 0);
	assert_value("/t/lease/leader", NULL);
	CU_ASSERT_EQUAL(etcd_lease_ttl(cli, id, &ttl, &err), 0);
	CU_ASSERT_EQUAL(ttl, -1);
	ttl = 99;
	CU_ASSERT_EQUAL(etcd_lease_keepalive(cli, id, &ttl, &err), 0);
	CU_ASSERT_EQUAL(ttl, 0);
}

static void test_revoke_of_unknown_lease_fails_with_etcd_message(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_lease_revoke(cli, 12345, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "requested lease not found"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, etcd_url));
}

static void test_put_with_unknown_lease_fails_with_etcd_message(void)
{
	need_etcd();
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(cli, "/t/lease/none", "x", 12345, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "requested lease not found"));
	assert_value("/t/lease/none", NULL);
}

static void test_tiny_lease_ttl_is_raised_by_etcd(void)
{
	need_etcd();
	fl_err err = {0};
	int64_t id = 0;
	long ttl = 0;
	CU_ASSERT_EQUAL_FATAL(etcd_lease_grant(cli, 1, &id, &err), 0);
	CU_ASSERT_EQUAL(etcd_lease_keepalive(cli, id, &ttl, &err), 0);
	CU_ASSERT_TRUE(ttl >= 1);
	CU_ASSERT_EQUAL(etcd_lease_revoke(cli, id, &err), 0);
}

/* ---- endpoints that fail ---- */

static void test_refused_endpoint_fails_fast_naming_it(void)
{
	char url[64];
	url_of(url, sizeof url, free_port());
	const char *urls[] = {url};
	etcd *e = client_of(urls, 1, 1.0);
	fl_err err = {0};
	double t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_put(e, "/k", "v", 0, &err), -1);
	CU_ASSERT_TRUE(clock_mono() - t0 < 0.3);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, url));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "refused"));
	etcd_free(e);
}

static void test_fallback_to_second_endpoint_when_first_is_refused(void)
{
	need_etcd();
	char refused[64];
	url_of(refused, sizeof refused, free_port());
	const char *urls[] = {refused, etcd_url};
	etcd *e = client_of(urls, 2, 1.0);
	fl_err err = {0};
	double t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_put(e, "/t/fallback", "ok", 0, &err), 0);
	etcd_kv kv;
	bool found = false;
	CU_ASSERT_EQUAL(etcd_get(e, "/t/fallback", &kv, &found, &err), 0);
	CU_ASSERT_TRUE(found);
	CU_ASSERT_TRUE(clock_mono() - t0 < 0.5);
	etcd_kv_clear(&kv);
	etcd_free(e);
}

static void assert_black_hole(const char *url, double timeout)
{
	const char *urls[] = {url};
	etcd *e = client_of(urls, 1, timeout);
	fl_err err = {0};
	etcd_kvs kvs;
	double t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_get_prefix(e, "/", &kvs, &err), -1);
	double took = clock_mono() - t0;
	CU_ASSERT_TRUE(took >= timeout - 0.05);
	CU_ASSERT_TRUE(took <= timeout + 0.5);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	char want[128];
	snprintf(want, sizeof want, "%s did not answer within %.1f s", url, timeout);
	CU_ASSERT_STRING_EQUAL(err.msg + strlen("etcd: "), want);
	/* The same object must stay usable after a timeout. */
	t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_get_prefix(e, "/", &kvs, &err), -1);
	CU_ASSERT_TRUE(clock_mono() - t0 <= timeout + 0.5);
	etcd_free(e);
}

static void test_accepting_but_silent_endpoint_returns_within_timeout(void)
{
	int port = 0;
	pid_t pid = fake_start(FAKE_SILENT, NULL, &port);
	CU_ASSERT_TRUE_FATAL(pid > 0);
	char url[64];
	url_of(url, sizeof url, port);
	assert_black_hole(url, 1.0);
	child_stop(pid);
}

/* A full accept queue makes Linux drop further SYNs: the connect itself hangs. */
static void test_unanswered_syn_returns_within_timeout(void)
{
	int port = 0;
	int lfd = listen_loopback(0, &port);
	CU_ASSERT_TRUE_FATAL(lfd >= 0);
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
	}
	clock_sleep(0.05);
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(probe, (struct sockaddr *)&sa, sizeof sa);
	struct pollfd pfd = {.fd = probe, .events = POLLOUT};
	CU_ASSERT_EQUAL_FATAL(poll(&pfd, 1, 200), 0);
	close(probe);
	char url[64];
	url_of(url, sizeof url, port);
	assert_black_hole(url, 0.7);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void test_black_holed_first_endpoint_is_skipped_after_one_miss(void)
{
	need_etcd();
	int port = 0;
	pid_t pid = fake_start(FAKE_SILENT, NULL, &port);
	CU_ASSERT_TRUE_FATAL(pid > 0);
	char hole[64];
	url_of(hole, sizeof hole, port);
	const char *urls[] = {hole, etcd_url};
	etcd *e = client_of(urls, 2, 1.0);
	fl_err err = {0};
	double t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_put(e, "/t/sticky", "1", 0, &err), 0);
	double first = clock_mono() - t0;
	CU_ASSERT_TRUE(first >= 0.45 && first < 1.0);
	t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_put(e, "/t/sticky", "2", 0, &err), 0);
	CU_ASSERT_TRUE(clock_mono() - t0 < 0.2);
	etcd_free(e);
	child_stop(pid);
}

static void test_all_endpoints_failing_names_each(void)
{
	int port = 0;
	pid_t pid = fake_start(FAKE_SILENT, NULL, &port);
	CU_ASSERT_TRUE_FATAL(pid > 0);
	char hole[64], refused[64];
	url_of(hole, sizeof hole, port);
	url_of(refused, sizeof refused, free_port());
	const char *urls[] = {refused, hole};
	etcd *e = client_of(urls, 2, 0.6);
	fl_err err = {0};
	double t0 = clock_mono();
	CU_ASSERT_EQUAL(etcd_delete(e, "/k", &err), -1);
	CU_ASSERT_TRUE(clock_mono() - t0 <= 0.6 + 0.5);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, refused));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, hole));
	etcd_free(e);
	child_stop(pid);
}

static void test_new_rejects_bad_endpoints(void)
{
	const char *bad[] = {"ftp://127.0.0.1:2379", "127.0.0.1:2379", "http://", "http://h:2379/v3", "::"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fl_err err = {0};
		const char *urls[] = {bad[i]};
		etcd *e = etcd_new((char *const *)urls, 1, NULL, &err);
		CU_ASSERT_PTR_NULL(e);
		CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
		etcd_free(e);
	}
	fl_err err = {0};
	CU_ASSERT_PTR_NULL(etcd_new(NULL, 0, NULL, &err));
	CU_ASSERT_EQUAL(err.code, FL_ERR_CONFIG);
	etcd_free(NULL);
	etcd_kv_clear(NULL);
	etcd_kvs_free(NULL);
	etcd_kv kv = {0};
	etcd_kv_clear(&kv);
	etcd_kvs kvs = {0};
	etcd_kvs_free(&kvs);
}

static void test_host_name_endpoint_resolves(void)
{
	need_etcd();
	char url[64];
	snprintf(url, sizeof url, "http://localhost%s", strrchr(etcd_url, ':'));
	const char *urls[] = {url};
	etcd *e = client_of(urls, 1, 2.0);
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(e, "/t/dns", "ok", 0, &err), 0);
	if (err.code)
		fprintf(stderr, "\n%s\n", err.msg);
	etcd_free(e);
}

/* ---- fake servers with canned answers ---- */

typedef enum call_kind { CALL_RANGE, CALL_CREATE, CALL_KEEPALIVE, CALL_GRANT, CALL_TTL } call_kind;

static int call_once(etcd *e, call_kind kind, fl_err *err)
{
	etcd_kvs kvs;
	bool done;
	long ttl;
	int64_t id;
	int rc = -1;
	switch (kind) {
	case CALL_RANGE:
		rc = etcd_get_prefix(e, "/", &kvs, err);
		etcd_kvs_free(&kvs);
		break;
	case CALL_CREATE:
		rc = etcd_create(e, "/k", "v", 0, &done, err);
		break;
	case CALL_KEEPALIVE:
		rc = etcd_lease_keepalive(e, 7, &ttl, err);
		break;
	case CALL_GRANT:
		rc = etcd_lease_grant(e, 10, &id, err);
		break;
	case CALL_TTL:
		rc = etcd_lease_ttl(e, 7, &ttl, err);
		break;
	}
	return rc;
}

/* An HTTP answer with status and JSON body, or raw bytes when status is NULL. */
static char *answer_text(const char *status, const char *body)
{
	char *text = NULL;
	if (status == NULL)
		return strdup(body);
	if (asprintf(&text, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", status,
		     strlen(body), body) < 0)
		return NULL;
	return text;
}

static void test_malformed_answers_are_errors(void)
{
	static const struct {
		call_kind kind;
		const char *status;
		const char *body;
		const char *want;
	} cases[] = {
		{CALL_RANGE, "200 OK", "{\"kvs\":[", "malformed JSON"},
		{CALL_RANGE, "200 OK", "[]", "not an object"},
		{CALL_RANGE, "200 OK", "", "malformed JSON"},
		{CALL_RANGE, "200 OK", "{\"header\":{\"revision\":\"x1\"}}", "malformed header"},
		{CALL_RANGE, "200 OK", "{\"kvs\":[]}", "malformed header"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":{}}", "malformed \"kvs\""},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":\"!!!!\"}]}", "malformed key-value"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":\"YQ=a\"}]}", "malformed key-value"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":12}]}", "malformed key-value"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\",\"lease\":{}}]}",
		 "malformed key-value"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\",\"value\":null}]}",
		 "malformed key-value"},
		{CALL_RANGE, "200 OK", "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\"},7]}", "malformed key-value"},
		{CALL_RANGE, "500 Internal Server Error", "{\"error\":\"boom\",\"message\":\"boom\",\"code\":2}",
		 "answered 500: boom"},
		{CALL_RANGE, "404 Not Found", "Not Found", "answered 404: Not Found"},
		{CALL_RANGE, NULL, "SSH-2.0-OpenSSH\r\n\r\n", "etcd: "},
		{CALL_RANGE, NULL, "", "without answering"},
		{CALL_CREATE, "200 OK", "{\"succeeded\":\"yes\"}", "malformed \"succeeded\""},
		{CALL_KEEPALIVE, "200 OK", "{\"result\":{\"TTL\":true}}", "malformed TTL"},
		{CALL_KEEPALIVE, "200 OK", "{\"error\":{\"message\":\"gone\"}}", "gone"},
		{CALL_KEEPALIVE, "200 OK", "{}", "malformed stream message"},
		{CALL_GRANT, "200 OK", "{\"error\":\"too many\"}", "too many"},
		{CALL_GRANT, "200 OK", "{}", "malformed lease ID"},
		{CALL_TTL, "200 OK", "{\"TTL\":\"1.5\"}", "malformed TTL"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *response = answer_text(cases[i].status, cases[i].body);
		int port = 0;
		pid_t pid = fake_start(FAKE_ANSWER, response, &port);
		free(response);
		CU_ASSERT_TRUE_FATAL(pid > 0);
		char url[64];
		url_of(url, sizeof url, port);
		const char *urls[] = {url};
		etcd *e = client_of(urls, 1, 1.0);
		fl_err err = {0};
		CU_ASSERT_EQUAL(call_once(e, cases[i].kind, &err), -1);
		CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
		if (strstr(err.msg, cases[i].want) == NULL) {
			fprintf(stderr, "\ncase %zu: \"%s\" lacks \"%s\"\n", i, err.msg, cases[i].want);
			CU_FAIL("error message");
		}
		etcd_free(e);
		child_stop(pid);
	}
}

/* etcd answers 503 when it has no leader: the next endpoint is asked, and the message kept if all fail. */
static void test_unavailable_endpoint_is_skipped(void)
{
	need_etcd();
	char *answer =
		answer_text("503 Service Unavailable",
			    "{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no leader\",\"code\":14}");
	int port = 0;
	pid_t pid = fake_start(FAKE_ANSWER, answer, &port);
	free(answer);
	CU_ASSERT_TRUE_FATAL(pid > 0);
	char url[64];
	url_of(url, sizeof url, port);
	const char *both[] = {url, etcd_url};
	etcd *e = client_of(both, 2, 1.0);
	fl_err err = {0};
	CU_ASSERT_EQUAL(etcd_put(e, "/t/unavailable", "ok", 0, &err), 0);
	etcd_free(e);
	e = client_of(both, 1, 1.0);
	CU_ASSERT_EQUAL(etcd_put(e, "/t/unavailable", "ok", 0, &err), -1);
	CU_ASSERT_EQUAL(err.code, FL_ERR_ETCD);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "answered 503: etcdserver: no leader"));
	etcd_free(e);
	child_stop(pid);
}

static void assert_range_answers(fake_mode mode)
{
	char *answer = answer_text("200 OK",
				   "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":\"Yg==\"}]}");
	int port = 0;
	pid_t pid = fake_start(mode, answer, &port);
	free(answer);
	CU_ASSERT_TRUE_FATAL(pid > 0);
	char url[64];
	url_of(url, sizeof url, port);
	const char *urls[] = {url};
	etcd *e = client_of(urls, 1, 1.0);
	for (int i = 0; i < 3; i++) {
		fl_err err = {0};
		etcd_kvs kvs;
		CU_ASSERT_EQUAL(etcd_get_prefix(e, "/", &kvs, &err), 0);
		CU_ASSERT_EQUAL(kvs.revision, 9);
		CU_ASSERT_EQUAL_FATAL(kvs.n, 1);
		CU_ASSERT_STRING_EQUAL(kvs.v[0].key, "a");
		CU_ASSERT_STRING_EQUAL(kvs.v[0].value, "b");
		CU_ASSERT_EQUAL(kvs.v[0].create_revision, 0);
		etcd_kvs_free(&kvs);
	}
	etcd_free(e);
	child_stop(pid);
}

/* The server closes its end after each answer: the next call must not trip on the dead connection. */
static void test_server_closing_idle_connection_is_reconnected(void) { assert_range_answers(FAKE_ANSWER); }

/* The server hangs up on the second request of a kept-alive connection: one fresh connection is tried. */
static void test_hang_up_on_kept_alive_connection_is_retried(void) { assert_range_answers(FAKE_ANSWER_ONCE); }

/* ---- registration ---- */

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("etcd", suite_init, suite_clean);
	CU_add_test(s, "etcd_starts_and_answers", test_etcd_starts_and_answers);
	CU_add_test(s, "put_then_get_returns_value_and_revisions", test_put_then_get_returns_value_and_revisions);
	CU_add_test(s, "empty_value_and_unusual_bytes_round_trip", test_empty_value_and_unusual_bytes_round_trip);
	CU_add_test(s, "get_prefix_returns_only_prefixed_keys_sorted",
		    test_get_prefix_returns_only_prefixed_keys_sorted);
	CU_add_test(s, "get_prefix_handles_0xff_and_empty_prefix", test_get_prefix_handles_0xff_and_empty_prefix);
	CU_add_test(s, "delete_removes_key_and_tolerates_absent_key", test_delete_removes_key_and_tolerates_absent_key);
	CU_add_test(s, "create_on_absent_key_creates_and_on_present_key_does_not",
		    test_create_on_absent_key_creates_and_on_present_key_does_not);
	CU_add_test(s, "put_if_value_only_when_value_matches", test_put_if_value_only_when_value_matches);
	CU_add_test(s, "delete_if_value_only_when_value_matches", test_delete_if_value_only_when_value_matches);
	CU_add_test(s, "lease_grant_keepalive_ttl_and_revoke_drops_bound_key",
		    test_lease_grant_keepalive_ttl_and_revoke_drops_bound_key);
	CU_add_test(s, "revoke_of_unknown_lease_fails_with_etcd_message",
		    test_revoke_of_unknown_lease_fails_with_etcd_message);
	CU_add_test(s, "put_with_unknown_lease_fails_with_etcd_message",
		    test_put_with_unknown_lease_fails_with_etcd_message);
	CU_add_test(s, "tiny_lease_ttl_is_raised_by_etcd", test_tiny_lease_ttl_is_raised_by_etcd);
	CU_add_test(s, "refused_endpoint_fails_fast_naming_it", test_refused_endpoint_fails_fast_naming_it);
	CU_add_test(s, "fallback_to_second_endpoint_when_first_is_refused",
		    test_fallback_to_second_endpoint_when_first_is_refused);
	CU_add_test(s, "accepting_but_silent_endpoint_returns_within_timeout",
		    test_accepting_but_silent_endpoint_returns_within_timeout);
	CU_add_test(s, "unanswered_syn_returns_within_timeout", test_unanswered_syn_returns_within_timeout);
	CU_add_test(s, "black_holed_first_endpoint_is_skipped_after_one_miss",
		    test_black_holed_first_endpoint_is_skipped_after_one_miss);
	CU_add_test(s, "all_endpoints_failing_names_each", test_all_endpoints_failing_names_each);
	CU_add_test(s, "new_rejects_bad_endpoints", test_new_rejects_bad_endpoints);
	CU_add_test(s, "host_name_endpoint_resolves", test_host_name_endpoint_resolves);
	CU_add_test(s, "malformed_answers_are_errors", test_malformed_answers_are_errors);
	CU_add_test(s, "server_closing_idle_connection_is_reconnected",
		    test_server_closing_idle_connection_is_reconnected);
	CU_add_test(s, "unavailable_endpoint_is_skipped", test_unavailable_endpoint_is_skipped);
	CU_add_test(s, "hang_up_on_kept_alive_connection_is_retried", test_hang_up_on_kept_alive_connection_is_retried);
}
