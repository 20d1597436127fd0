/*
 * cmd_stack: the compose stacks; see cmd_stack.h.
 */
#include "cmd_stack.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define STACK_OUT_MAX (1 << 20)
#define STACK_DEFAULT_TIMEOUT 300.0
#define STACK_IMAGE_UID 999 /* the database image's postgres, which reads the secrets */

static const stack_def stacks[] = {
	{"ha", {"ha/docker-compose.yml", NULL}, {"db1", "db2", "db3"}, "haproxy", "5000", "5001", 8},
	{"single", {"single/docker-compose.yml", NULL}, {"db1", NULL, NULL}, "db1", "5432", NULL, 2},
	{"dev", {"ha/docker-compose.yml", "dev/docker-compose.yml"}, {"db1", "db2", "db3"}, "haproxy", "5000", "5001", 8},
};

/* The secrets' files, each with the image that reads it when only some stacks run that image. */
static const struct {
	const char *name;
	const char *image; /* NULL: every stack's database nodes */
} secret_defs[] = {
	{"superuser_password", NULL},
	{"replication_password", NULL},
	{"api_token", NULL},
	{"backup_token", "backup"},
};

bool stack_project_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63 || !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '_' ||
		      name[i] == '-'))
			return false;
	return true;
}

int stack_health_parse(const char *line, char *name, size_t name_len, stack_health *out)
{
	char svc[128], status[32], health[32] = "";
	int n = sscanf(line, "%127s %31s %31s", svc, status, health);
	if (n < 2 || strlen(svc) >= name_len)
		return -1;
	snprintf(name, name_len, "%s", svc);
	if (strcmp(status, "running") == 0) {
		if (n < 3 || strcmp(health, "healthy") == 0)
			*out = STACK_HEALTHY;
		else if (strcmp(health, "starting") == 0)
			*out = STACK_STARTING;
		else if (strcmp(health, "unhealthy") == 0)
			*out = STACK_FAILED;
		else
			return -1;
	} else if (strcmp(status, "created") == 0 || strcmp(status, "restarting") == 0) {
		*out = STACK_STARTING;
	} else if (strcmp(status, "exited") == 0 || strcmp(status, "dead") == 0 || strcmp(status, "paused") == 0 ||
		   strcmp(status, "removing") == 0) {
		*out = STACK_FAILED;
	} else {
		return -1;
	}
	return 0;
}

/* ---- running programs ---- */

/*
 * Runs argv (found on PATH) and waits for it. With out, its stdout is read
 * into *out (malloc'ed, at most STACK_OUT_MAX bytes); without, it shares
 * ours. Returns its exit status, 127 when it could not run, -1 on a failure
 * here (err filled).
 */
int stack_program(char *const argv[], char **out, fl_err *err)
{
	int fds[2] = {-1, -1};
	if (out != NULL && pipe2(fds, O_CLOEXEC) < 0)
		return fl_fail(err, FL_ERR_IO, "stack: pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		if (out != NULL) {
			close(fds[0]);
			close(fds[1]);
		}
		return fl_fail(err, FL_ERR_IO, "stack: fork: %s", strerror(saved));
	}
	if (pid == 0) {
		if (out != NULL && dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	int rc = 0;
	if (out != NULL) {
		close(fds[1]);
		size_t len = 0, cap = 4096;
		char *buf = malloc(cap);
		for (;;) {
			if (buf != NULL && len + 1 >= cap && cap < STACK_OUT_MAX) {
				char *more = realloc(buf, cap * 2);
				if (more == NULL) {
					free(buf);
					buf = NULL;
				} else {
					buf = more;
					cap *= 2;
				}
			}
			char sink[4096];
			char *to = buf != NULL && len + 1 < cap ? buf + len : sink;
			size_t room = to == sink ? sizeof sink : cap - len - 1;
			ssize_t n = read(fds[0], to, room);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (to != sink)
				len += (size_t)n;
		}
		close(fds[0]);
		if (buf != NULL)
			buf[len] = '\0';
		*out = buf;
		if (buf == NULL)
			rc = -1;
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fl_fail(err, FL_ERR_IO, "stack: waitpid: %s", strerror(errno));
	if (rc < 0) {
		return fl_fail(err, FL_ERR_INTERNAL, "stack: out of memory reading %s's output", argv[0]);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* docker-compose -f FILE... -p PROJECT ARGS... (at most 24 arguments in all). */
int stack_compose(const stack_args *a, char **out, fl_err *err, const char *const *args)
{
	char *argv[40];
	char files[2][PATH_MAX];
	int n = 0;
	argv[n++] = "docker-compose";
	for (int i = 0; i < 2 && a->def->files[i] != NULL; i++) {
		snprintf(files[i], sizeof files[i], "%s/%s", a->stacks_dir, a->def->files[i]);
		argv[n++] = "-f";
		argv[n++] = files[i];
	}
	argv[n++] = "-p";
	argv[n++] = (char *)a->project;
	for (int i = 0; args[i] != NULL && n < 39; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	int rc = stack_program(argv, out, err);
	if (rc == 127)
		return fl_fail(
			err, FL_ERR_NOT_FOUND,
			"stack: docker-compose did not run\nHINT: install it (Debian: apt-get install docker-compose)");
	if (rc > 0)
		return fl_fail(err, FL_ERR_IO, "stack: docker-compose %s failed (exit %d)", args[0], rc);
	return rc;
}

/* ---- where things are ---- */

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The stacks directory and, when the program runs from a build of the source tree, that tree. */
int stack_locate(stack_args *a, fl_err *err)
{
	const char *env = getenv("FLOTILLA_STACKS_DIR");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	a->top[0] = '\0';
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL)
			*slash = '\0';
		char tree[PATH_MAX + 16];
		snprintf(tree, sizeof tree, "%s/../images", exe);
		if (is_dir(tree) && realpath(tree, a->top) != NULL) {
			*strrchr(a->top, '/') = '\0';
		} else {
			a->top[0] = '\0';
		}
	}
	if (env != NULL && env[0] != '\0')
		snprintf(a->stacks_dir, sizeof a->stacks_dir, "%s", env);
	else if (a->top[0] != '\0')
		snprintf(a->stacks_dir, sizeof a->stacks_dir, "%s/stacks", a->top);
	else
		snprintf(a->stacks_dir, sizeof a->stacks_dir, "/usr/share/flotilla/stacks");
	char file[PATH_MAX + 64];
	snprintf(file, sizeof file, "%s/%s", a->stacks_dir, a->def->files[0]);
	if (access(file, R_OK) < 0)
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "stack: %s: %s\nHINT: set FLOTILLA_STACKS_DIR to the stacks directory", file,
			       strerror(errno));
	return 0;
}

/* ---- secrets ---- */

static int mkdirs(const char *path, mode_t mode, fl_err *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return fl_fail(err, FL_ERR_IO, "stack: cannot make %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return fl_fail(err, FL_ERR_IO, "stack: cannot make %s: %s", p, strerror(errno));
	return 0;
}

/* A random secret of 32 hex digits in path, mode 600, owned by the image's user when we may give it away. */
static int secret_make(const char *path, fl_err *err)
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return fl_fail(err, FL_ERR_IO, "stack: getrandom: %s", strerror(errno));
	char hex[2 * sizeof raw + 2];
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	strcat(hex, "\n");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "stack: cannot write %s: %s", path, strerror(errno));
	bool ok = write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex);
	/* The containers read it as uid 999; a user who cannot give it away shares it with the container's group. */
	if (ok && geteuid() == 0)
		ok = fchown(fd, STACK_IMAGE_UID, STACK_IMAGE_UID) == 0;
	else if (ok)
		ok = fchmod(fd, 0644) == 0;
	int saved = errno;
	close(fd);
	explicit_bzero(hex, sizeof hex);
	if (!ok) {
		unlink(path);
		return fl_fail(err, FL_ERR_IO, "stack: cannot write %s: %s", path, strerror(saved));
	}
	return 0;
}

static int secrets_ensure(stack_args *a, fl_err *err)
{
	if (mkdirs(a->secrets, 0700, err) < 0)
		return -1;
	/* Ours alone, also when it was there before; and absolute: compose reads it from another directory. */
	char real[PATH_MAX];
	if (chmod(a->secrets, 0700) < 0 || realpath(a->secrets, real) == NULL)
		return fl_fail(err, FL_ERR_IO, "stack: %s: %s", a->secrets, strerror(errno));
	snprintf(a->secrets, sizeof a->secrets, "%s", real);
	if (setenv("FLOTILLA_SECRETS", a->secrets, 1) < 0)
		return fl_fail(err, FL_ERR_INTERNAL, "stack: setenv: %s", strerror(errno));
	int made = 0;
	for (size_t i = 0; i < sizeof secret_defs / sizeof secret_defs[0]; i++) {
		if (!stack_secret_needed(a->def->name, secret_defs[i].name))
			continue;
		char path[PATH_MAX + 64];
		snprintf(path, sizeof path, "%s/%s", a->secrets, secret_defs[i].name);
		if (access(path, F_OK) == 0)
			continue;
		if (secret_make(path, err) < 0)
			return -1;
		made++;
	}
	if (made > 0)
		log_info("made %d secret%s in %s (random, mode %s; never printed)", made, made == 1 ? "" : "s",
			 a->secrets, geteuid() == 0 ? "600, owned by uid 999" : "644 in a directory of mode 700");
	return 0;
}

/* ---- images ---- */

static bool image_present(const char *image)
{
	char *argv[] = {"docker", "image", "inspect", "-f", "{{.Id}}", (char *)image, NULL};
	char *out = NULL;
	fl_err ignored = {0};
	int rc = stack_program(argv, &out, &ignored);
	free(out);
	return rc == 0;
}

static const char *const image_names[] = {"db", "etcd", "haproxy", "backup", "prometheus"};

bool stack_image_needed(const char *stack, const char *image, bool monitoring, bool swarm)
{
	if (strcmp(image, "haproxy") == 0 || strcmp(image, "backup") == 0)
		return strcmp(stack, "single") != 0;
	if (strcmp(image, "prometheus") == 0)
		return monitoring && !swarm;
	return true;
}

bool stack_secret_needed(const char *stack, const char *secret)
{
	for (size_t i = 0; i < sizeof secret_defs / sizeof secret_defs[0]; i++)
		if (strcmp(secret_defs[i].name, secret) == 0)
			return secret_defs[i].image == NULL ||
			       stack_image_needed(stack, secret_defs[i].image, false, false);
	return false;
}

int stack_services_expected(const char *stack, bool monitoring, bool swarm)
{
	for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++)
		if (strcmp(stacks[i].name, stack) == 0)
			return stacks[i].services +
			       (stack_image_needed(stack, "prometheus", monitoring, swarm) ? 1 : 0);
	return -1;
}

static bool image_needed(const stack_args *a, const char *name)
{
	return stack_image_needed(a->def->name, name, a->monitoring, a->swarm);
}

/* flotilla/NAME:TAG, the tag from FLOTILLA_TAG as the stacks read it (default dev). */
static void image_tag(const char *name, char *buf, size_t len)
{
	const char *tag = getenv("FLOTILLA_TAG");
	snprintf(buf, len, "flotilla/%s:%s", name, tag && tag[0] ? tag : "dev");
}

static int services_expected(const stack_args *a)
{
	return stack_services_expected(a->def->name, a->monitoring, a->swarm);
}

static int images_ensure(const stack_args *a, fl_err *err)
{
	char missing[64] = "";
	char *argv[8];
	int n = 0;
	char build[PATH_MAX + 32];
	snprintf(build, sizeof build, "%s/images/build", a->top);
	argv[n++] = build;
	for (size_t i = 0; i < sizeof image_names / sizeof image_names[0]; i++) {
		char image[128];
		image_tag(image_names[i], image, sizeof image);
		if (!image_needed(a, image_names[i]) || image_present(image))
			continue;
		argv[n++] = (char *)image_names[i];
		strcat(missing, " ");
		strcat(missing, image_names[i]);
	}
	argv[n] = NULL;
	if (n == 1)
		return 0;
	if (a->no_build)
		return fl_fail(err, FL_ERR_NOT_FOUND, "stack: images missing:%s\nHINT: images/build makes them",
			       missing);
	if (a->top[0] == '\0')
		return fl_fail(err, FL_ERR_NOT_FOUND,
			       "stack: images missing:%s, and no source tree here to build them\nHINT: build them with "
			       "images/build in Flotilla's source tree",
			       missing);
	log_info("building the missing images:%s (images/build; progress below)", missing);
	double t0 = clock_mono();
	int rc = stack_program(argv, NULL, err);
	if (rc != 0)
		return rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "stack: images/build failed (exit %d)", rc);
	log_info("images built in %.0f s", clock_mono() - t0);
	return 0;
}

/* ---- waiting ---- */

/* The running containers of the stack (of one service when service is not NULL), one id a line. */
int stack_containers(const stack_args *a, const char *service, char **out, fl_err *err)
{
	if (!a->swarm) {
		/* Stopped ones too: a service that exited has failed, it is not gone. */
		const char *ps[] = {"ps", "-a", "-q", service, NULL};
		return stack_compose(a, out, err, ps);
	}
	char stack_label[128], service_label[192];
	snprintf(stack_label, sizeof stack_label, "label=com.docker.stack.namespace=%s", a->project);
	snprintf(service_label, sizeof service_label, "label=com.docker.swarm.service.name=%s_%s", a->project,
		 service ? service : "");
	char *argv[] = {"docker", "ps", "-q", "--filter", stack_label, "--filter", service_label, NULL};
	if (service == NULL)
		argv[5] = NULL;
	int rc = stack_program(argv, out, err);
	return rc == 0 ? 0 : rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "stack: docker ps failed (exit %d)", rc);
}

/* Every container of the project healthy: 1; still starting: 0; one failed: -1 (its name in failed). */
static int stack_health_now(const stack_args *a, char *failed, size_t failed_len, int *healthy, int *total, fl_err *err)
{
	char *ids = NULL;
	if (stack_containers(a, NULL, &ids, err) < 0)
		return -1;
	char *argv[64];
	int n = 0;
	argv[n++] = "docker";
	argv[n++] = "inspect";
	argv[n++] = "-f";
	argv[n++] = "{{index .Config.Labels \"com.docker.compose.service\"}}"
		    "{{index .Config.Labels \"com.docker.swarm.service.name\"}} {{.State.Status}} "
		    "{{if .State.Health}}{{.State.Health.Status}}{{end}}";
	char *save = NULL;
	for (char *id = strtok_r(ids, "\n", &save); id != NULL && n < 63; id = strtok_r(NULL, "\n", &save))
		argv[n++] = id;
	argv[n] = NULL;
	*healthy = *total = 0;
	if (n == 4) {
		free(ids);
		return 0;
	}
	char *out = NULL;
	int rc = stack_program(argv, &out, err);
	free(ids);
	if (rc != 0) {
		free(out);
		return 0; /* a container replaced meanwhile: ask again */
	}
	int state = 1;
	for (char *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		stack_health h;
		if (stack_health_parse(line, name, sizeof name, &h) < 0)
			continue;
		(*total)++;
		if (h == STACK_HEALTHY)
			(*healthy)++;
		else if (h == STACK_FAILED) {
			snprintf(failed, failed_len, "%s", name);
			state = -1;
		} else if (state == 1)
			state = 0;
	}
	free(out);
	return state;
}

static int stack_wait_healthy(const stack_args *a, fl_err *err)
{
	double t0 = clock_mono(), until = t0 + a->timeout;
	/* Every service's container, not only those already made (Swarm makes its tasks one by one). */
	int expected = services_expected(a), last = -1;
	for (;;) {
		char failed[128] = "";
		int healthy = 0, total = 0;
		int state = stack_health_now(a, failed, sizeof failed, &healthy, &total, err);
		if (err->code != FL_OK)
			return -1;
		if (healthy != last) {
			log_info("%d of %d services healthy (%.0f s)", healthy, total > expected ? total : expected,
				 clock_mono() - t0);
			last = healthy;
		}
		if (state == 1 && total >= expected)
			return 0;
		if (state < 0)
			return fl_fail(err, FL_ERR_IO,
				       "stack: service %s failed\nHINT: flotilla stack logs --stack %s %s", failed,
				       a->def->name, failed);
		if (clock_mono() > until)
			return fl_fail(err, FL_ERR_TIMEOUT, "stack: %d of %d services healthy after %.0f s", healthy,
				       total, a->timeout);
		clock_sleep(1.0);
	}
}

/* ---- what up and status print ---- */

static int published(const stack_args *a, const char *service, const char *port, char *buf, size_t len)
{
	const char *args[] = {"port", service, port, NULL};
	char *out = NULL;
	fl_err ignored = {0};
	int rc = stack_compose(a, &out, &ignored, args);
	if (rc != 0 || out == NULL || out[0] == '\0') {
		free(out);
		return -1;
	}
	out[strcspn(out, "\n")] = '\0';
	snprintf(buf, len, "%s", out);
	free(out);
	return 0;
}

static void print_dsn(const char *what, const char *hostport, const stack_args *a)
{
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL)
		return;
	printf("%s: psql \"host=%.*s port=%s user=postgres dbname=postgres\"   (password: %s/superuser_password)\n",
	       what, (int)(colon - hostport), hostport, colon + 1, a->secrets);
}

/* The members as `flotilla list` shows them, asked inside the first database container that answers. */
static void print_members(const stack_args *a)
{
	for (int i = 0; i < 3 && a->def->dbs[i] != NULL; i++) {
		char *id = NULL;
		fl_err ignored = {0};
		if (stack_containers(a, a->def->dbs[i], &id, &ignored) != 0 || id == NULL || id[0] == '\0') {
			free(id);
			continue;
		}
		id[strcspn(id, "\n")] = '\0';
		char *argv[] = {"docker", "exec", id, "flotilla", "list", "--api", "http://127.0.0.1:8008", NULL};
		int rc = stack_program(argv, NULL, &ignored);
		free(id);
		if (rc == 0)
			return;
	}
}

static void print_access(const stack_args *a)
{
	char hp[128];
	if (published(a, a->def->rw_service, a->def->rw_port, hp, sizeof hp) == 0)
		print_dsn(a->def->ro_port ? "read-write (the leader)" : "read-write", hp, a);
	if (a->def->ro_port && published(a, a->def->rw_service, a->def->ro_port, hp, sizeof hp) == 0)
		print_dsn("read-only (the replicas)", hp, a);
	if (image_needed(a, "backup") && published(a, "backup", "8010", hp, sizeof hp) == 0)
		printf("backup sidecar: flotilla backup list --url http://%s --token-file %s/backup_token\n", hp,
		       a->secrets);
	if (a->monitoring && published(a, "prometheus", "9090", hp, sizeof hp) == 0)
		printf("prometheus: http://%s/ (alerts: http://%s/alerts)\n", hp, hp);
	print_members(a);
}

/* ---- subcommands ---- */

/* ---- Swarm ---- */

/* Output of a docker command (first line, trimmed), or -1 (err filled) when it failed. */
static int docker_line(char *const argv[], char *buf, size_t len, fl_err *err)
{
	char *out = NULL;
	int rc = stack_program(argv, &out, err);
	if (rc != 0) {
		free(out);
		return rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "stack: %s %s failed (exit %d)", argv[0], argv[1], rc);
	}
	out[strcspn(out, "\n")] = '\0';
	snprintf(buf, len, "%s", out);
	free(out);
	return 0;
}

/* Every member's placement label (flotilla.NAME) on some node; the missing ones go on this node. */
static int swarm_labels(fl_err *err)
{
	/* Each service whose volume must stay on one node. */
	static const char *const members[] = {"etcd1", "etcd2", "etcd3", "db1", "db2", "db3", "backup"};
	char self[128];
	char *info[] = {"docker", "info", "-f", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}", NULL};
	char line[256];
	if (docker_line(info, line, sizeof line, err) < 0)
		return -1;
	if (strncmp(line, "active ", 7) != 0)
		return fl_fail(err, FL_ERR_CONFLICT,
			       "stack deploy: this Docker engine is not in a swarm (%s)\nHINT: docker swarm init, or "
			       "docker swarm join, first",
			       line);
	snprintf(self, sizeof self, "%s", line + 7);
	char *ls[] = {"docker", "node", "ls", "-q", NULL};
	char *nodes = NULL;
	if (stack_program(ls, &nodes, err) != 0) {
		free(nodes);
		return fl_fail(err, FL_ERR_CONFLICT, "stack deploy: docker node ls failed (a manager node is needed)");
	}
	char *labels = NULL;
	{
		char *argv[40] = {"docker", "node", "inspect", "-f", "{{json .Spec.Labels}}"};
		int n = 5;
		char *save = NULL;
		for (char *id = strtok_r(nodes, "\n", &save); id != NULL && n < 39; id = strtok_r(NULL, "\n", &save))
			argv[n++] = id;
		argv[n] = NULL;
		if (stack_program(argv, &labels, err) != 0) {
			free(nodes);
			free(labels);
			return fl_fail(err, FL_ERR_IO, "stack deploy: docker node inspect failed");
		}
	}
	free(nodes);
	int rc = 0;
	for (size_t i = 0; i < sizeof members / sizeof members[0] && rc == 0; i++) {
		char want[64];
		snprintf(want, sizeof want, "\"flotilla.%s\":\"true\"", members[i]);
		if (labels != NULL && strstr(labels, want) != NULL)
			continue;
		char add[64];
		snprintf(add, sizeof add, "flotilla.%s=true", members[i]);
		char *argv[] = {"docker", "node", "update", "--label-add", add, self, NULL};
		char *ignored = NULL;
		rc = stack_program(argv, &ignored, err) == 0
			     ? 0
			     : fl_fail(err, FL_ERR_IO, "stack deploy: labelling %s failed", self);
		free(ignored);
		if (rc == 0)
			log_info("%s runs on this node (label %s): no node had the label", members[i], add);
	}
	free(labels);
	return rc;
}

/* The images onto each --node (a Docker host: ssh://user@host, tcp://...): docker save here, docker load there. */
static int swarm_images_to_nodes(const stack_args *a, fl_err *err)
{
	if (a->n_nodes == 0)
		return 0;
	char images[sizeof image_names / sizeof image_names[0]][128];
	char *save[5 + sizeof image_names / sizeof image_names[0]] = {"docker", "save", "-o", NULL};
	int n = 4;
	for (size_t i = 0; i < sizeof image_names / sizeof image_names[0]; i++)
		if (image_needed(a, image_names[i])) {
			image_tag(image_names[i], images[i], sizeof images[i]);
			save[n++] = images[i];
		}
	save[n] = NULL;
	char tmp[] = "/tmp/flotilla-images-XXXXXX";
	int fd = mkstemp(tmp);
	if (fd < 0)
		return fl_fail(err, FL_ERR_IO, "stack deploy: mkstemp: %s", strerror(errno));
	close(fd);
	save[3] = tmp;
	int rc = stack_program(save, NULL, err);
	if (rc != 0) {
		unlink(tmp);
		return rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "stack deploy: docker save failed (exit %d)", rc);
	}
	for (int i = 0; i < a->n_nodes && rc == 0; i++) {
		log_info("loading the images on %s", a->nodes[i]);
		char *load[] = {"docker", "-H", (char *)a->nodes[i], "load", "-q", "-i", tmp, NULL};
		rc = stack_program(load, NULL, err);
		if (rc > 0)
			fl_fail(err, FL_ERR_IO, "stack deploy: docker load on %s failed (exit %d)", a->nodes[i], rc);
	}
	unlink(tmp);
	return rc == 0 ? 0 : -1;
}

static int stack_deploy(stack_args *a, fl_err *err)
{
	if (strcmp(a->def->name, "ha") != 0)
		return fl_fail(err, FL_ERR_USAGE, "stack deploy: Swarm runs the ha stack (stacks/ha/docker-stack.yml)");
	if (swarm_labels(err) < 0 || images_ensure(a, err) < 0 || swarm_images_to_nodes(a, err) < 0 ||
	    secrets_ensure(a, err) < 0)
		return -1;
	char file[PATH_MAX + 32];
	snprintf(file, sizeof file, "%s/ha/docker-stack.yml", a->stacks_dir);
	log_info("deploying %s to the swarm as stack %s", file, a->project);
	char *argv[] = {"docker", "stack", "deploy", "-c", file, (char *)a->project, NULL};
	double t0 = clock_mono();
	int rc = stack_program(argv, NULL, err);
	if (rc != 0)
		return rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "stack deploy: docker stack deploy failed (exit %d)", rc);
	if (stack_wait_healthy(a, err) < 0)
		return -1;
	log_info("stack %s: every task healthy %.1f s after the deploy", a->project, clock_mono() - t0);
	printf("read-write: haproxy:5000, read-only: haproxy:5001, on the attachable network %s_client "
	       "(password: %s/superuser_password)\n",
	       a->project, a->secrets);
	printf("backup sidecar: http://backup:8010 on the same network (token: %s/backup_token)\n", a->secrets);
	print_members(a);
	return 0;
}

/* The first line of a docker command's output ("" when it fails). */
static void docker_first(char *const argv[], char *buf, size_t len)
{
	char *out = NULL;
	fl_err ignored = {0};
	buf[0] = '\0';
	if (stack_program(argv, &out, &ignored) == 0 && out != NULL)
		snprintf(buf, len, "%.*s", (int)strcspn(out, "\n"), out);
	free(out);
}

/*
 * up would recreate every database container whose image differs from the
 * one the stack names, all at once: refused, pointing at flotilla upgrade,
 * which moves them one at a time.
 */
static int db_images_agree(const stack_args *a, fl_err *err)
{
	char want[128], want_id[128];
	image_tag("db", want, sizeof want);
	char *inspect[] = {"docker", "image", "inspect", "-f", "{{.Id}}", want, NULL};
	docker_first(inspect, want_id, sizeof want_id);
	for (int i = 0; i < 3 && a->def->dbs[i] != NULL && want_id[0]; i++) {
		char *ids = NULL, id[80], line[256];
		fl_err ignored = {0};
		if (stack_containers(a, a->def->dbs[i], &ids, &ignored) != 0 || ids == NULL || ids[0] == '\0') {
			free(ids);
			continue;
		}
		snprintf(id, sizeof id, "%.*s", (int)strcspn(ids, "\n"), ids);
		free(ids);
		char *argv[] = {"docker", "inspect", "-f", "{{.Image}} {{.Config.Image}}", id, NULL};
		docker_first(argv, line, sizeof line);
		size_t n = strcspn(line, " ");
		if (line[0] && (n != strlen(want_id) || strncmp(line, want_id, n) != 0))
			return fl_fail(
				err, FL_ERR_CONFLICT,
				"stack up: %s runs %s, and the stack names %s: up would replace every database "
				"node at once\nHINT: flotilla upgrade --image %s moves them one at a time; or set "
				"FLOTILLA_TAG to the tag they run",
				a->def->dbs[i], line + n + (line[n] ? 1 : 0), want, want);
	}
	return 0;
}

static int stack_up(stack_args *a, fl_err *err)
{
	if (images_ensure(a, err) < 0 || secrets_ensure(a, err) < 0 || db_images_agree(a, err) < 0)
		return -1;
	log_info("starting stack %s as project %s", a->def->name, a->project);
	static const char *const up[] = {"up", "-d", "--remove-orphans", NULL};
	double t0 = clock_mono();
	if (stack_compose(a, NULL, err, up) < 0 || stack_wait_healthy(a, err) < 0)
		return -1;
	log_info("stack %s healthy %.1f s after up", a->project, clock_mono() - t0);
	print_access(a);
	return 0;
}

static int stack_confirm(const stack_args *a, fl_err *err)
{
	if (a->force)
		return 0;
	if (!isatty(STDIN_FILENO))
		return fl_fail(err, FL_ERR_USAGE,
			       "stack reset: stdin is not a terminal, so cannot confirm\nHINT: add --force to remove "
			       "the data without confirmation");
	fprintf(stderr, "Remove every container, network and volume of %s, with all its data? [y/N] ", a->project);
	char line[16];
	if (fgets(line, sizeof line, stdin) == NULL || (line[0] != 'y' && line[0] != 'Y'))
		return fl_fail(err, FL_ERR_CONFLICT, "stack reset: not confirmed; nothing removed");
	return 0;
}

static int stack_run(stack_args *a, int argc, char **argv, fl_err *err)
{
	if (strcmp(a->cmd, "up") == 0)
		return stack_up(a, err);
	if (strcmp(a->cmd, "deploy") == 0)
		return stack_deploy(a, err);
	if (strcmp(a->cmd, "down") == 0) {
		static const char *const down[] = {"down", "--remove-orphans", NULL};
		return stack_compose(a, NULL, err, down) < 0 ? -1 : 0;
	}
	if (strcmp(a->cmd, "reset") == 0) {
		static const char *const down[] = {"down", "-v", "--remove-orphans", NULL};
		if (stack_confirm(a, err) < 0 || stack_compose(a, NULL, err, down) < 0)
			return -1;
		log_info("%s removed with its volumes; the secrets stay in %s", a->project, a->secrets);
		return 0;
	}
	if (strcmp(a->cmd, "status") == 0) {
		static const char *const ps[] = {"ps", NULL};
		if (stack_compose(a, NULL, err, ps) < 0)
			return -1;
		print_access(a);
		return 0;
	}
	/* logs [SERVICE...], with docker-compose's own options after a "--" */
	const char *args[24] = {"logs", "--no-color"};
	int n = 2;
	for (int i = a->rest; i < argc && n < 23; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return stack_compose(a, NULL, err, args) < 0 ? -1 : 0;
}

static void stack_usage(FILE *f)
{
	fprintf(f,
		"Usage: flotilla stack up|down|status|logs|reset [--stack ha|single|dev] [OPTIONS]\n\n"
		"The compose stacks with Flotilla's defaults (docker-compose):\n"
		"  up      build missing images, make missing secrets, start, wait until every service is\n"
		"          healthy, print the connection strings and the members\n"
		"  down    stop and remove the containers (the volumes stay)\n"
		"  status  the services, the connection strings and the members\n"
		"  logs    the services' logs (logs [--] [SERVICE...] [docker-compose logs options])\n"
		"  reset   down, and remove the volumes with all the data (asks first)\n\n"
		"  --stack NAME       ha (default: 3 etcd, 3 database nodes, HAProxy, the backup\n"
		"                     sidecar), single, dev\n"
		"  --project NAME     the compose project (default flotilla-STACK)\n"
		"  --secrets DIR      the secrets' directory (default $FLOTILLA_SECRETS, else\n"
		"                     ~/.local/share/flotilla/PROJECT/secrets)\n"
		"  --timeout SECONDS  how long up waits for healthy services (default %.0f); exit 9\n"
		"  --no-build         fail instead of building missing images\n"
		"  --force            reset without asking\n",
		STACK_DEFAULT_TIMEOUT);
}

enum { ST_STACK = 0x200, ST_PROJECT, ST_SECRETS, ST_TIMEOUT, ST_NO_BUILD, ST_FORCE, ST_NODE, ST_MONITORING };

static int stack_parse(int argc, char **argv, stack_args *a, fl_err *err)
{
	static const struct option longopts[] = {
		{"stack", required_argument, NULL, ST_STACK},
		{"project", required_argument, NULL, ST_PROJECT},
		{"secrets", required_argument, NULL, ST_SECRETS},
		{"timeout", required_argument, NULL, ST_TIMEOUT},
		{"no-build", no_argument, NULL, ST_NO_BUILD},
		{"force", no_argument, NULL, ST_FORCE},
		{"node", required_argument, NULL, ST_NODE},
		{"monitoring", no_argument, NULL, ST_MONITORING},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *stack = getenv("FLOTILLA_STACK"), *project = NULL, *secrets = getenv("FLOTILLA_SECRETS");
	a->timeout = STACK_DEFAULT_TIMEOUT;
	optind = 2;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case ST_STACK:
			stack = optarg;
			break;
		case ST_PROJECT:
			project = optarg;
			break;
		case ST_SECRETS:
			secrets = optarg;
			break;
		case ST_TIMEOUT:
			a->timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(a->timeout > 0 && a->timeout <= 86400))
				return fl_fail(err, FL_ERR_USAGE, "stack: --timeout \"%s\" is not in 0..86400 seconds",
					       optarg);
			break;
		case ST_NO_BUILD:
			a->no_build = true;
			break;
		case ST_FORCE:
			a->force = true;
			break;
		case ST_MONITORING:
			a->monitoring = true;
			break;
		case ST_NODE:
			if (a->n_nodes == (int)(sizeof a->nodes / sizeof a->nodes[0]))
				return fl_fail(err, FL_ERR_USAGE, "stack: at most %d --node",
					       (int)(sizeof a->nodes / sizeof a->nodes[0]));
			if (optarg[0] == '-' || strchr(optarg, ' ') != NULL)
				return fl_fail(err, FL_ERR_USAGE, "stack: --node \"%s\" is not a Docker host", optarg);
			a->nodes[a->n_nodes++] = optarg;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return fl_fail(err, FL_ERR_USAGE,
				       "stack: unknown option or missing value \"%s\"\nHINT: run flotilla stack --help",
				       argv[optind - 1]);
		}
	}
	a->rest = optind;
	a->swarm = strcmp(a->cmd, "deploy") == 0;
	if (a->monitoring && strcmp(stack ? stack : "ha", "single") == 0)
		return fl_fail(err, FL_ERR_USAGE, "stack: --monitoring goes with the ha and dev stacks");
	/* docker-compose reads the profiles from the environment; an explicit COMPOSE_PROFILES is the user's. */
	const char *profiles = getenv("COMPOSE_PROFILES");
	if (a->monitoring && (profiles == NULL || strstr(profiles, "monitoring") == NULL)) {
		char both[256];
		snprintf(both, sizeof both, "%s%smonitoring", profiles ? profiles : "",
			 profiles && *profiles ? "," : "");
		if (setenv("COMPOSE_PROFILES", both, 1) < 0)
			return fl_fail(err, FL_ERR_INTERNAL, "stack: setenv: %s", strerror(errno));
	}
	profiles = getenv("COMPOSE_PROFILES");
	if (profiles != NULL && strstr(profiles, "monitoring") != NULL)
		a->monitoring = true;
	if (optind < argc && strcmp(a->cmd, "logs") != 0)
		return fl_fail(err, FL_ERR_USAGE, "stack %s: unexpected argument \"%s\"", a->cmd, argv[optind]);
	return stack_select(a, stack, project, secrets, err);
}

int stack_select(stack_args *a, const char *stack, const char *project, const char *secrets, fl_err *err)
{
	if (stack == NULL || stack[0] == '\0')
		stack = "ha";
	for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++)
		if (strcmp(stacks[i].name, stack) == 0)
			a->def = &stacks[i];
	if (a->def == NULL)
		return fl_fail(err, FL_ERR_USAGE, "stack: no stack \"%s\" (ha, single, dev)", stack);
	if (project == NULL)
		snprintf(a->project, sizeof a->project, "flotilla-%s", a->def->name);
	else if (!stack_project_valid(project))
		return fl_fail(
			err, FL_ERR_USAGE,
			"stack: project \"%s\" is not 1 to 63 of a-z, 0-9, '_' and '-' (a letter or digit first)",
			project);
	else
		snprintf(a->project, sizeof a->project, "%s", project);
	if (secrets != NULL && secrets[0] != '\0') {
		snprintf(a->secrets, sizeof a->secrets, "%s", secrets);
	} else {
		const char *home = getenv("HOME");
		snprintf(a->secrets, sizeof a->secrets, "%s/.local/share/flotilla/%s/secrets",
			 home && home[0] == '/' ? home : "/root", a->project);
	}
	/* docker-compose reads it from the environment (the stacks' secrets: files). */
	if (setenv("FLOTILLA_SECRETS", a->secrets, 1) < 0)
		return fl_fail(err, FL_ERR_INTERNAL, "stack: setenv: %s", strerror(errno));
	return 0;
}

int cmd_stack(int argc, char **argv, fl_err *err)
{
	static const char *const subs[] = {"up", "down", "status", "logs", "reset", "deploy"};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		stack_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? fl_fail(err, FL_ERR_USAGE, "stack: which subcommand?") : 0;
	}
	stack_args a = {0};
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i]) == 0)
			a.cmd = subs[i];
	if (a.cmd == NULL)
		return fl_fail(
			err, FL_ERR_USAGE,
			"stack: unknown subcommand \"%s\" (up, down, status, logs, reset, deploy)\nHINT: run flotilla "
			"stack --help",
			argv[1]);
	if (stack_parse(argc, argv, &a, err) < 0)
		return -1;
	if (a.help) {
		stack_usage(stdout);
		return 0;
	}
	if (stack_locate(&a, err) < 0)
		return -1;
	return stack_run(&a, argc, argv, err);
}
