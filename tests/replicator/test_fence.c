/*
 * test_fence: the fence process's messages and rule (every kind, every
 * malformed field, every state against the deadline and the agent's end),
 * the lease arithmetic of its deadline, and flotilla-fence itself against
 * real process groups standing in for a postmaster and its backends: an
 * armed deadline that passes stops the whole group, a renewal holds it off,
 * a disarm leaves it running, the agent's end stops it at once when armed,
 * and signals and garbage on the pipe do not end it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "replicator/fence_rule.h"
#include "replicator/lease.h"

static void test_messages_round_trip(void)
{
	fence_msg in[] = {{FENCE_ARM, 1234, 5000000000LL}, {FENCE_DISARM, 0, 0}, {FENCE_ARM, 2, 1}};
	for (unsigned i = 0; i < sizeof in / sizeof in[0]; i++) {
		unsigned char buf[FENCE_MSG_SIZE];
		fence_msg out;
		const char *why = NULL;
		fence_msg_encode(&in[i], buf);
		CU_ASSERT_EQUAL_FATAL(fence_msg_decode(buf, &out, &why), 0);
		CU_ASSERT_EQUAL(out.kind, in[i].kind);
		CU_ASSERT_EQUAL(out.pid, in[i].pid);
		CU_ASSERT_EQUAL(out.deadline_ns, in[i].deadline_ns);
	}
}

static void test_malformed_messages_are_named(void)
{
	static const struct {
		int kind;
		int32_t pid;
		int64_t deadline;
		int byte; /* to corrupt, -1 for none */
		const char *why;
	} rows[] = {
		{FENCE_ARM, 1234, 1000, 0, "bad magic"},
		{FENCE_ARM, 1234, 1000, 13, "bad magic"},
		{7, 1234, 1000, -1, "unknown"},
		{0, 1234, 1000, -1, "unknown"},
		{FENCE_ARM, 1, 1000, -1, "no postmaster"},
		{FENCE_ARM, 0, 1000, -1, "no postmaster"},
		{FENCE_ARM, -5, 1000, -1, "no postmaster"},
		{FENCE_ARM, 1234, 0, -1, "no deadline"},
		{FENCE_ARM, 1234, -1, -1, "no deadline"},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		fence_msg m = {(fence_kind)rows[i].kind, rows[i].pid, rows[i].deadline}, out;
		unsigned char buf[FENCE_MSG_SIZE];
		fence_msg_encode(&m, buf);
		if (rows[i].byte >= 0)
			buf[rows[i].byte] ^= 0x5a;
		const char *why = NULL;
		CU_ASSERT_EQUAL(fence_msg_decode(buf, &out, &why), -1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, rows[i].why));
	}
}

static void test_the_rule(void)
{
	static const struct {
		bool armed;
		int64_t deadline, now;
		bool gone;
		fence_step want;
	} rows[] = {
		{false, 0, 100, false, FENCE_WAIT},  {false, 0, 100, true, FENCE_EXIT},
		{true, 200, 100, false, FENCE_WAIT}, {true, 200, 199, false, FENCE_WAIT},
		{true, 200, 200, false, FENCE_FIRE}, {true, 200, 900, false, FENCE_FIRE},
		{true, 200, 100, true, FENCE_FIRE}, /* the agent died: at once, not at the deadline */
		{true, 200, 900, true, FENCE_FIRE},
	};
	for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		fence_state s = {rows[i].armed, rows[i].armed ? 4321 : 0, rows[i].deadline};
		CU_ASSERT_EQUAL(fence_due(&s, rows[i].now, rows[i].gone), rows[i].want);
	}
}

static void test_apply_arms_moves_and_disarms(void)
{
	fence_state s = {0};
	fence_apply(&s, &(fence_msg){FENCE_ARM, 100, 1000});
	CU_ASSERT_TRUE(s.armed);
	CU_ASSERT_EQUAL(fence_due(&s, 1000, false), FENCE_FIRE);
	fence_apply(&s, &(fence_msg){FENCE_ARM, 100, 2000}); /* a renewal moves it on */
	CU_ASSERT_EQUAL(fence_due(&s, 1000, false), FENCE_WAIT);
	fence_apply(&s, &(fence_msg){FENCE_ARM, 200, 3000}); /* a new postmaster */
	CU_ASSERT_EQUAL(s.pid, 200);
	fence_apply(&s, &(fence_msg){FENCE_DISARM, 0, 0});
	CU_ASSERT_FALSE(s.armed);
	CU_ASSERT_EQUAL(fence_due(&s, 99999, false), FENCE_WAIT);
	CU_ASSERT_EQUAL(fence_due(&s, 99999, true), FENCE_EXIT);
}

static void test_the_process_deadline_is_between_the_agents_and_the_expiry(void)
{
	decide_config cfg = {.ttl = 3, .fence_margin = 1.0};
	agent_state a = {.leader = true, .lease_renewed_at = 100.0};
	double agent_fences = decide_fence_deadline(&cfg, &a), expiry = 100.0 + cfg.ttl;
	double process = lease_fence_process_deadline(&cfg, &a);
	CU_ASSERT_DOUBLE_EQUAL(process, 102.5, 1e-9);
	CU_ASSERT_TRUE(agent_fences < process && process < expiry);
	a.leader = false; /* the same for a node that does not know it leads (a lost reply) */
	CU_ASSERT_DOUBLE_EQUAL(lease_fence_process_deadline(&cfg, &a), 102.5, 1e-9);
}

static void test_the_watchdog_stays_ahead_of_the_lease(void)
{
	static const struct {
		long ttl;
		int want;
	} rows[] = {{2, 1}, {3, 2}, {10, 9}, {30, 29}, {3600, 3599}};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		CU_ASSERT_EQUAL(fence_watchdog_timeout(rows[i].ttl), rows[i].want);
	/* ttl 3, renewal sent at 100 s: the fence process fences at 102.5 s, the lease cannot expire
	 * before 103 s. The last keepalive may come at 100.75 s, so that an unrun fence process gets
	 * the machine reset by 102.75 s: after our own fence, before any expiry. */
	decide_config cfg = {.ttl = 3, .fence_margin = 1.0};
	agent_state a = {.lease_renewed_at = 100.0};
	int64_t deadline = (int64_t)(lease_fence_process_deadline(&cfg, &a) * 1e9);
	int t = fence_watchdog_timeout(cfg.ttl);
	int64_t until = fence_watchdog_pet_until(deadline, t);
	CU_ASSERT_EQUAL(until, 100750000000LL);
	int64_t reset_by = until + (int64_t)t * 1000000000LL;
	CU_ASSERT_TRUE(reset_by > deadline && reset_by < 103000000000LL);
}

/* ---- flotilla-fence, for real */

static double boot_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A "postmaster": leads its own process group, with one "backend" child in it. Its pid; *backend the child's. */
static pid_t fake_postmaster(pid_t *backend)
{
	int p[2];
	CU_ASSERT_FATAL(pipe(p) == 0);
	pid_t pm = fork();
	if (pm == 0) {
		setpgid(0, 0);
		pid_t kid = fork();
		if (kid == 0) {
			for (;;)
				pause();
		}
		if (write(p[1], &kid, sizeof kid) != sizeof kid)
			_exit(1);
		for (;;)
			pause();
	}
	setpgid(pm, pm);
	close(p[1]);
	CU_ASSERT_FATAL(read(p[0], backend, sizeof *backend) == sizeof *backend);
	close(p[0]);
	return pm;
}

typedef struct fencer {
	pid_t pid;
	int fd;
} fencer;

static fencer start_fencer_with(const char *watchdog, const char *mode);

static fencer start_fencer(void) { return start_fencer_with(NULL, NULL); }

static fencer start_fencer_with(const char *watchdog, const char *mode)
{
	int p[2];
	CU_ASSERT_FATAL(pipe(p) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		if (watchdog)
			execl(FLOTILLA_FENCE_PATH, "flotilla-fence", "--node", "t1", "--watchdog", watchdog, "2", mode,
			      (char *)NULL);
		else
			execl(FLOTILLA_FENCE_PATH, "flotilla-fence", "--node", "t1", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/* Ready once it ignores SIGHUP, SIGINT and SIGTERM (SigIgn in /proc/<pid>/status). */
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	unsigned long long ign = 0, want = (1ULL << (SIGHUP - 1)) | (1ULL << (SIGINT - 1)) | (1ULL << (SIGTERM - 1));
	for (int i = 0; i < 1000 && (ign & want) != want; i++) {
		FILE *st = fopen(path, "r");
		while (st && fgets(line, sizeof line, st))
			if (strncmp(line, "SigIgn:", 7) == 0)
				ign = strtoull(line + 7, NULL, 16);
		if (st)
			fclose(st);
		if ((ign & want) != want) {
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
	}
	CU_ASSERT_EQUAL(ign & want, want);
	return (fencer){pid, p[1]};
}

static void send_msg(fencer *f, fence_kind kind, pid_t pid, double deadline)
{
	unsigned char buf[FENCE_MSG_SIZE];
	fence_msg_encode(&(fence_msg){kind, pid, (int64_t)(deadline * 1e9)}, buf);
	CU_ASSERT(write(f->fd, buf, sizeof buf) == (ssize_t)sizeof buf);
}

/* Whether pid (our child) is gone (reaped now if it ended) within seconds. */
static bool ends_within(pid_t pid, double seconds)
{
	double until = boot_now() + seconds;
	do {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return true;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	} while (boot_now() < until);
	return false;
}

/* A backend is not our child: gone when kill(pid, 0) fails (reaped by init) or it is a zombie. */
static bool process_gone_within(pid_t pid, double seconds)
{
	double until = boot_now() + seconds;
	do {
		char path[64], buf[256];
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			return true;
		bool zombie = fgets(buf, sizeof buf, f) && strstr(buf, ") Z ");
		fclose(f);
		if (zombie)
			return true;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	} while (boot_now() < until);
	return false;
}

/* Closes the pipe: the fence process must end by itself, with status 0. */
static void stop_fencer(fencer *f)
{
	close(f->fd);
	int st = -1;
	double until = boot_now() + 3;
	while (waitpid(f->pid, &st, WNOHANG) != f->pid && boot_now() < until) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	if (boot_now() >= until) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &st, 0);
		CU_FAIL("the fence process did not end when its pipe closed");
		return;
	}
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void kill_group(pid_t pm)
{
	kill(-pm, SIGKILL);
	waitpid(pm, NULL, 0);
}

static void test_a_passed_deadline_stops_the_whole_group(void)
{
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer();
	double t0 = boot_now();
	send_msg(&f, FENCE_ARM, pm, t0 + 0.3);
	CU_ASSERT_FALSE(ends_within(pm, 0.2)); /* not before the deadline */
	CU_ASSERT_TRUE(ends_within(pm, 2.0));
	double took = boot_now() - t0;
	CU_ASSERT_TRUE(took >= 0.3 && took < 1.5);
	CU_ASSERT_TRUE(process_gone_within(backend, 2.0));
	stop_fencer(&f);
	kill_group(pm);
}

static void test_renewals_hold_it_off_and_a_disarm_leaves_it(void)
{
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer();
	for (int i = 0; i < 6; i++) { /* renewed every 0.1 s with a 0.3 s deadline: never stopped */
		send_msg(&f, FENCE_ARM, pm, boot_now() + 0.3);
		CU_ASSERT_FALSE(ends_within(pm, 0.1));
	}
	send_msg(&f, FENCE_DISARM, 0, 0);
	CU_ASSERT_FALSE(ends_within(pm, 0.6)); /* disarmed: the old deadline passes harmlessly */
	stop_fencer(&f);                       /* the agent ends while disarmed: nothing stopped */
	CU_ASSERT_FALSE(ends_within(pm, 0.2));
	CU_ASSERT_FALSE(process_gone_within(backend, 0.05));
	kill_group(pm);
}

static void test_the_agents_end_stops_it_at_once_when_armed(void)
{
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer();
	send_msg(&f, FENCE_ARM, pm, boot_now() + 30);
	CU_ASSERT_FALSE(ends_within(pm, 0.2));
	double t0 = boot_now();
	close(f.fd); /* what the kernel does when the agent dies */
	CU_ASSERT_TRUE(ends_within(pm, 2.0));
	CU_ASSERT_TRUE(boot_now() - t0 < 1.5);
	CU_ASSERT_TRUE(process_gone_within(backend, 2.0));
	CU_ASSERT_TRUE(ends_within(f.pid, 3.0));
	kill_group(pm);
}

static void test_it_ignores_termination_signals_and_garbage(void)
{
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer();
	unsigned char junk[FENCE_MSG_SIZE];
	memset(junk, 0xab, sizeof junk);
	CU_ASSERT(write(f.fd, junk, sizeof junk) == (ssize_t)sizeof junk);
	kill(f.pid, SIGTERM);
	kill(f.pid, SIGINT);
	kill(f.pid, SIGHUP);
	CU_ASSERT_FALSE(ends_within(f.pid, 0.2));
	send_msg(&f, FENCE_ARM, pm, boot_now() + 0.2); /* it still reads what follows the garbage */
	CU_ASSERT_TRUE(ends_within(pm, 2.0));
	stop_fencer(&f);
	kill_group(pm);
}

static void test_a_postmaster_gone_before_its_deadline(void)
{
	/* Armed for a process that ends by itself: at the deadline the fence process
	 * finds it gone (by its start time, so a new owner of the pid is not signalled)
	 * and carries on. */
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer();
	send_msg(&f, FENCE_ARM, pm, boot_now() + 0.4);
	CU_ASSERT_FALSE(ends_within(pm, 0.1));
	kill_group(pm); /* gone before the deadline */
	struct timespec ts = {0, 600000000};
	nanosleep(&ts, NULL);
	int st;
	CU_ASSERT_EQUAL(waitpid(f.pid, &st, WNOHANG), 0); /* still running */
	stop_fencer(&f);
}

static void test_a_required_watchdog_that_cannot_start_fences_at_once(void)
{
	/* /dev/null opens but is no watchdog (its timeout cannot be set): required stops the postmaster
	 * as soon as it is armed, automatic carries on to the deadline without it. */
	pid_t backend;
	pid_t pm = fake_postmaster(&backend);
	fencer f = start_fencer_with("/dev/null", "required");
	send_msg(&f, FENCE_ARM, pm, boot_now() + 30);
	CU_ASSERT_TRUE(ends_within(pm, 2.0));
	CU_ASSERT_TRUE(process_gone_within(backend, 2.0));
	stop_fencer(&f);
	kill_group(pm);

	pm = fake_postmaster(&backend);
	f = start_fencer_with("/dev/null", "automatic");
	double t0 = boot_now();
	send_msg(&f, FENCE_ARM, pm, t0 + 0.5);
	CU_ASSERT_FALSE(ends_within(pm, 0.3));
	CU_ASSERT_TRUE(ends_within(pm, 2.0));
	CU_ASSERT_TRUE(boot_now() - t0 >= 0.5);
	stop_fencer(&f);
	kill_group(pm);
}

static void test_it_refuses_to_run_by_hand(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 2);
		execl(FLOTILLA_FENCE_PATH, "flotilla-fence", "--node", "t1", (char *)NULL);
		_exit(127);
	}
	int st;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2); /* usage: stdin is not the agent's pipe */
}

void suite_register(void)
{
	signal(SIGPIPE, SIG_IGN);
	CU_pSuite s = CU_add_suite("fence", NULL, NULL);
	CU_add_test(s, "messages round trip", test_messages_round_trip);
	CU_add_test(s, "malformed messages are named", test_malformed_messages_are_named);
	CU_add_test(s, "the rule", test_the_rule);
	CU_add_test(s, "apply arms, moves and disarms", test_apply_arms_moves_and_disarms);
	CU_add_test(s, "the process deadline is between the agent's and the expiry",
		    test_the_process_deadline_is_between_the_agents_and_the_expiry);
	CU_add_test(s, "a passed deadline stops the whole group", test_a_passed_deadline_stops_the_whole_group);
	CU_add_test(s, "renewals hold it off and a disarm leaves it", test_renewals_hold_it_off_and_a_disarm_leaves_it);
	CU_add_test(s, "the agent's end stops it at once when armed", test_the_agents_end_stops_it_at_once_when_armed);
	CU_add_test(s, "it ignores termination signals and garbage", test_it_ignores_termination_signals_and_garbage);
	CU_add_test(s, "a postmaster gone before its deadline", test_a_postmaster_gone_before_its_deadline);
	CU_add_test(s, "the watchdog stays ahead of the lease", test_the_watchdog_stays_ahead_of_the_lease);
	CU_add_test(s, "a required watchdog that cannot start fences at once",
		    test_a_required_watchdog_that_cannot_start_fences_at_once);
	CU_add_test(s, "it refuses to run by hand", test_it_refuses_to_run_by_hand);
}
