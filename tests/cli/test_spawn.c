/*
 * test_spawn: how a local cluster's commands wait for a process they
 * signalled. A process killed with much memory spends a while tearing it
 * down after its cmdline reads empty; `pid_wait_gone` must wait for the end
 * (the process gone, or a zombie), not return while it still exits and may
 * hold its files and ports.
 */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/local/local.h"

/* Touched pages a killed child must free before it becomes a zombie. */
#define CHILD_BYTES ((size_t)1536 << 20)

/* "R", "Z", ... of pid, or "" once it is gone. */
static void pid_state(pid_t pid, char *state)
{
	char file[64], buf[512];
	snprintf(file, sizeof file, "/proc/%d/stat", (int)pid);
	state[0] = '\0';
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	if (paren != NULL && paren[1] == ' ' && paren[2] != '\0') {
		state[0] = paren[2];
		state[1] = '\0';
	}
}

/* A child working in dir (its cwd) that holds CHILD_BYTES of touched memory; -1 when it could not start. */
static pid_t memory_child(const char *dir)
{
	int ready[2];
	if (pipe(ready) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		char *mem = mmap(NULL, CHILD_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED || chdir(dir) < 0)
			_exit(1);
		memset(mem, 1, CHILD_BYTES);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	ssize_t got = pid > 0 ? read(ready[0], &c, 1) : -1;
	close(ready[0]);
	if (pid > 0 && got != 1) {
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static void test_a_killed_process_is_waited_for_until_it_ended(void)
{
	char dir[] = "/tmp/flotilla-test-spawn-XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	for (int round = 0; round < 3; round++) {
		pid_t pid = memory_child(dir);
		CU_ASSERT_FATAL(pid > 0);
		CU_ASSERT_TRUE(pid_matches(pid, "test_spawn", dir));
		CU_ASSERT_FALSE(pid_matches(pid, "test_spawn", "/nonexistent"));
		CU_ASSERT_FALSE(pid_matches(pid, "postgres", dir));
		CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
		CU_ASSERT_TRUE(pid_wait_gone(pid, "test_spawn", dir, 10));
		/* Our child: reaped by the wait, or at least a zombie; never still running. */
		char state[2];
		pid_state(pid, state);
		CU_ASSERT_TRUE(state[0] == '\0' || state[0] == 'Z' || state[0] == 'X');
		if (state[0] != '\0')
			printf("\n  round %d: pid %d state %s after pid_wait_gone\n", round, (int)pid, state);
		waitpid(pid, NULL, 0);
		CU_ASSERT_FALSE(pid_matches(pid, "test_spawn", dir));
	}
	rmdir(dir);
}

static void test_nothing_matches_a_pid_that_runs_nothing(void)
{
	CU_ASSERT_FALSE(pid_matches(0, "test_spawn", "/"));
	CU_ASSERT_FALSE(pid_matches(-1, "test_spawn", "/"));
	CU_ASSERT_TRUE(pid_wait_gone(0, "test_spawn", "/", 0.1));
}

void suite_register(void)
{
	CU_pSuite s = CU_add_suite("spawn", NULL, NULL);
	CU_add_test(s, "a killed process is waited for until it ended",
		    test_a_killed_process_is_waited_for_until_it_ended);
	CU_add_test(s, "nothing matches a pid that runs nothing", test_nothing_matches_a_pid_that_runs_nothing);
}
