/*
 * cmd_upgrade: the rolling upgrade of a compose stack; see cmd_upgrade.h.
 * The cluster is read and steered with the flotilla CLI inside a database
 * container (on the stack's own network, with its etcd and its token), the
 * containers with docker and docker-compose; every decision is
 * upgrade_plan's.
 */
#include "cmd_upgrade.h"

#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd_stack.h"
#include "common/clock.h"
#include "common/log.h"
#include "upgrade_plan.h"

#define UP_DEFAULT_TIMEOUT 600.0
#define UP_DRAIN_WAIT "60"
#define UP_MAX_LAG_MB 1
#define UP_REPO "flotilla/db"

typedef struct up_args {
	stack_args st;
	char image[UPGRADE_IMAGE_MAX]; /* flotilla/db:TAG */
	const char *tag;               /* TAG, within image */
	char image_id[UPGRADE_IMAGE_MAX];
	bool dry_run, yes, json, help;
	double t0;
} up_args;

typedef struct up_row {
	char node[UPGRADE_NAME_MAX];
	char from[UPGRADE_IMAGE_MAX]; /* the image (name) it ran */
	double drained_s, catch_up_s;
	bool recloned;
} up_row;

typedef struct up_result {
	up_row rows[UPGRADE_MAX_MEMBERS];
	int n_rows;
	char old_leader[UPGRADE_NAME_MAX], new_leader[UPGRADE_NAME_MAX];
	double switchover_s; /* -1: none */
} up_result;

static void progress(const up_args *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line of progress with the time since the start. */
static void progress(const up_args *u, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_info("upgrade [%6.1f s] %s", clock_mono() - u->t0, line);
}

/* ---- docker ---- */

/* The first line of a program's output, trimmed; -1 (err filled) when it fails. */
static int first_line(char *const argv[], char *buf, size_t len, fl_err *err)
{
	char *out = NULL;
	int rc = stack_program(argv, &out, err);
	if (rc != 0) {
		free(out);
		return rc < 0 ? -1 : fl_fail(err, FL_ERR_IO, "upgrade: %s %s exited %d", argv[0], argv[1], rc);
	}
	out[strcspn(out, "\n")] = '\0';
	snprintf(buf, len, "%s", out);
	free(out);
	return 0;
}

/* The container of a service ("" when it has none). */
static void service_container(const up_args *u, const char *service, char *id, size_t len)
{
	char *out = NULL;
	fl_err ignored = {0};
	id[0] = '\0';
	if (stack_containers(&u->st, service, &out, &ignored) == 0 && out != NULL)
		snprintf(id, len, "%.*s", (int)strcspn(out, "\n"), out);
	free(out);
}

typedef struct up_container {
	char id[80];
	char image_id[UPGRADE_IMAGE_MAX];
	char image[UPGRADE_IMAGE_MAX]; /* as the stack names it */
	char status[24];               /* running, exited, ... */
	char health[24];               /* healthy, unhealthy, starting, "" */
} up_container;

static int container_of(const up_args *u, const char *service, up_container *c)
{
	memset(c, 0, sizeof *c);
	service_container(u, service, c->id, sizeof c->id);
	if (c->id[0] == '\0')
		return -1;
	char line[512];
	fl_err ignored = {0};
	char *argv[] = {
		"docker",
		"inspect",
		"-f",
		"{{.Image}} {{.Config.Image}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
		c->id,
		NULL};
	if (first_line(argv, line, sizeof line, &ignored) < 0)
		return -1;
	sscanf(line, "%95s %95s %23s %23s", c->image_id, c->image, c->status, c->health);
	return 0;
}

/*
 * The flotilla CLI in a running database container other than exclude's,
 * against the stack's etcd: the container's own environment names it.
 */
static int cli_in(const up_args *u, const char *exclude, char **out, fl_err *err, const char *const *args)
{
	up_container c = {0};
	for (int i = 0; i < 3 && u->st.def->dbs[i] != NULL; i++) {
		if ((exclude && strcmp(u->st.def->dbs[i], exclude) == 0) ||
		    container_of(u, u->st.def->dbs[i], &c) < 0 || strcmp(c.status, "running") != 0) {
			c.id[0] = '\0';
			continue;
		}
		break;
	}
	if (c.id[0] == '\0')
		return fl_fail(err, FL_ERR_NOT_FOUND, "upgrade: no database container of %s runs", u->st.project);
	char *argv[32] = {
		"docker",  "exec",
		c.id,      "sh",
		"-c",      "exec flotilla \"$@\" --etcd \"$FLOTILLA_ETCD_ENDPOINTS\" --scope \"$FLOTILLA_SCOPE\"",
		"flotilla"};
	int n = 7;
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	/* Its output is ours to read or to drop: our stdout carries the summary alone. */
	char *dropped = NULL;
	int rc = stack_program(argv, out ? out : &dropped, err);
	free(dropped);
	if (rc != 0)
		return rc < 0 ? -1
			      : fl_fail(err, rc == 11 ? FL_ERR_CONFLICT : FL_ERR_IO, "upgrade: flotilla %s exited %d",
					args[0], rc);
	return 0;
}

/* ---- the cluster ---- */

/* Whether the backup sidecar takes a base backup now: its status, asked inside its container. */
static bool backup_running(const up_args *u)
{
	char id[80];
	service_container(u, "backup", id, sizeof id);
	if (id[0] == '\0')
		return false;
	char *argv[] = {"docker",
			"exec",
			id,
			"flotilla",
			"backup",
			"status",
			"--json",
			"--url",
			"http://127.0.0.1:8010",
			"--token-file",
			"/run/secrets/backup_token",
			NULL};
	char *out = NULL;
	fl_err ignored = {0};
	bool running = false;
	if (stack_program(argv, &out, &ignored) == 0 && out != NULL) {
		json_t *j = json_loads(out, 0, NULL);
		running = json_is_object(json_object_get(j, "running"));
		json_decref(j);
	}
	free(out);
	return running;
}

/* The view upgrade_plan decides on: the members from `flotilla list --json`, each with its container's image. */
static int read_view(const up_args *u, const char *exclude, upgrade_view *v, fl_err *err)
{
	memset(v, 0, sizeof *v);
	const char *args[] = {"list", "--json", NULL};
	char *out = NULL;
	if (cli_in(u, exclude, &out, err, args) < 0) {
		free(out);
		return -1;
	}
	json_t *arr = json_loads(out ? out : "", 0, NULL);
	free(out);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return fl_fail(err, FL_ERR_CONFIG, "upgrade: flotilla list --json answered no list");
	}
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		const char *name = json_string_value(json_object_get(o, "member"));
		const char *role = json_string_value(json_object_get(o, "role"));
		const char *state = json_string_value(json_object_get(o, "state"));
		json_t *lag = json_object_get(o, "lag_in_mb");
		if (name == NULL || v->n == UPGRADE_MAX_MEMBERS)
			continue;
		upgrade_member *m = &v->m[v->n++];
		snprintf(m->name, sizeof m->name, "%s", name);
		m->leader = role && strcmp(role, "Leader") == 0;
		m->lag_mb = m->leader ? 0 : json_is_integer(lag) ? (long)json_integer_value(lag) : -1;
		m->drained = json_is_true(json_object_get(o, "drained"));
		snprintf(m->state, sizeof m->state, "%s", state ? state : "");
		v->paused |= json_is_true(json_object_get(o, "paused"));
		up_container c;
		bool healthy = container_of(u, name, &c) == 0 && strcmp(c.status, "running") == 0 &&
			       strcmp(c.health, "unhealthy") != 0;
		if (healthy || c.id[0])
			snprintf(m->image, sizeof m->image, "%s", c.image_id);
		m->streaming = healthy && state != NULL &&
			       (m->leader ? strcmp(state, "running") == 0 : strcmp(state, "streaming") == 0);
	}
	json_decref(arr);
	v->backup_running = backup_running(u);
	return 0;
}

static const upgrade_member *member_named(const upgrade_view *v, const char *name)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->m[i].name, name) == 0)
			return &v->m[i];
	return NULL;
}

/* ---- the steps ---- */

static int failed_node(const up_args *u, const char *node, fl_err *err, const char *what)
{
	return fl_fail(
		err, FL_ERR_CONFLICT,
		"upgrade: %s: %s\nHINT: %s stays drained and the others serve; see flotilla stack logs --stack %s "
		"%s, then run flotilla upgrade again (with a good image) to go on from there",
		node, what, node, u->st.def->name, node);
}

/* One replica: drained, recreated on the image with its volume, waited for, ready again. */
static int node_step(const up_args *u, const char *node, up_row *row, fl_err *err)
{
	up_container before;
	memset(row, 0, sizeof *row);
	snprintf(row->node, sizeof row->node, "%s", node);
	if (container_of(u, node, &before) == 0)
		snprintf(row->from, sizeof row->from, "%s", before.image);
	double t0 = clock_mono();
	progress(u, "%s: draining it in HAProxy until its read-only sessions end", node);
	const char *drain[] = {"drain", node, "--wait", "--wait-timeout", UP_DRAIN_WAIT, NULL};
	if (cli_in(u, node, NULL, err, drain) < 0)
		return -1;
	row->drained_s = clock_mono() - t0;
	progress(u, "%s: drained in %.1f s; %s on %s (its volume stays)", node, row->drained_s,
		 u->st.swarm ? "updating its service" : "recreating its container", u->image);
	double t1 = clock_mono();
	if (u->st.swarm) {
		/* Swarm's default order, stop-first: the old task is gone before the new one opens the volume. */
		char service[160];
		snprintf(service, sizeof service, "%s_%s", u->st.project, node);
		char *argv[] = {"docker",  "service",        "update", "--detach", "--quiet",
				"--image", (char *)u->image, service,  NULL};
		char *dropped = NULL;
		int rc = stack_program(argv, &dropped, err);
		free(dropped);
		if (rc != 0)
			return rc < 0 ? -1
				      : fl_fail(err, FL_ERR_IO, "upgrade: docker service update of %s failed (exit %d)",
						service, rc);
	} else {
		const char *up[] = {"up", "-d", "--no-deps", "--no-build", node, NULL};
		char *dropped = NULL;
		int rc = stack_compose(&u->st, &dropped, err, up);
		free(dropped);
		if (rc < 0)
			return -1;
	}
	double until = t1 + u->st.timeout, logged = 0;
	for (;;) {
		clock_sleep(1.0);
		up_container c;
		if (container_of(u, node, &c) == 0) {
			if (strcmp(c.status, "exited") == 0 || strcmp(c.status, "dead") == 0)
				return failed_node(u, node, err, "its new container exited");
			if (strcmp(c.health, "unhealthy") == 0)
				return failed_node(u, node, err, "its new container is unhealthy");
		}
		upgrade_view v;
		fl_err ignored = {0};
		const upgrade_member *m = NULL;
		if (strcmp(c.image_id, u->image_id) == 0 && strcmp(c.health, "healthy") == 0 &&
		    read_view(u, node, &v, &ignored) == 0)
			m = member_named(&v, node);
		if (m != NULL && m->streaming && m->lag_mb >= 0 && m->lag_mb <= UP_MAX_LAG_MB)
			break;
		/* A record that says cloning: the data was copied again, which the volume should have spared. */
		if (m != NULL && strncmp(m->state, "clon", 4) == 0)
			row->recloned = true;
		if (clock_mono() > until)
			return failed_node(u, node, err, "it did not stream and catch up in time");
		if (clock_mono() - logged >= 5) {
			progress(u, "%s: waiting until it streams and has caught up (container %s)", node,
				 c.health[0]   ? c.health
				 : c.status[0] ? c.status
					       : "starting");
			logged = clock_mono();
		}
	}
	row->catch_up_s = clock_mono() - t1;
	const char *ready[] = {"ready", node, NULL};
	if (cli_in(u, NULL, NULL, err, ready) < 0)
		return -1;
	progress(u, "%s: on %s, streaming and caught up %.1f s after its recreation%s; ready again", node, u->image,
		 row->catch_up_s, row->recloned ? " (it was cloned again)" : "");
	return 0;
}

static int switchover_step(const up_args *u, const upgrade_step *s, up_result *r, fl_err *err)
{
	if (s->candidate[0] == '\0')
		return fl_fail(err, FL_ERR_CONFLICT, "upgrade: no upgraded replica streams to take the leader key");
	progress(u, "switchover: %s hands the leader key to %s (upgraded)", s->node, s->candidate);
	double t0 = clock_mono();
	const char *args[] = {"switchover",       "--leader", s->node,        "--candidate",
			      s->candidate,       "--force",  "--token-file", "/run/secrets/api_token",
			      "--insecure-token", NULL};
	if (cli_in(u, s->node, NULL, err, args) < 0)
		return -1;
	r->switchover_s = clock_mono() - t0;
	snprintf(r->old_leader, sizeof r->old_leader, "%s", s->node);
	snprintf(r->new_leader, sizeof r->new_leader, "%s", s->candidate);
	progress(u, "switchover: %s leads, %.1f s after the request", s->candidate, r->switchover_s);
	return 0;
}

/* ---- plan, confirmation, summary ---- */

/* The steps from v, played on a copy as upgrade_plan would take them. */
static void print_plan(const up_args *u, upgrade_view v)
{
	fprintf(stderr, "Plan for %s (stack %s), to %s:\n", u->st.project, u->st.def->name, u->image);
	for (int k = 1;; k++) {
		upgrade_step s = upgrade_next(&v, u->image_id);
		if (s.kind == UPGRADE_DONE || k > 2 * UPGRADE_MAX_MEMBERS) {
			if (k == 1)
				fprintf(stderr, "  nothing to do: every member runs %s\n", u->image);
			break;
		}
		for (int i = 0; i < v.n; i++) {
			upgrade_member *m = &v.m[i];
			if (s.kind == UPGRADE_NODE && strcmp(m->name, s.node) == 0) {
				snprintf(m->image, sizeof m->image, "%s", u->image_id);
				m->drained = false;
				m->streaming = true;
				m->lag_mb = 0;
			}
			if (s.kind == UPGRADE_SWITCHOVER)
				m->leader = strcmp(m->name, s.candidate) == 0;
		}
		if (s.kind == UPGRADE_NODE)
			fprintf(stderr,
				"  %d. %s: drain, recreate on the new image (same volume), wait until it streams "
				"and has caught up, ready\n",
				k, s.node);
		else
			fprintf(stderr, "  %d. switchover from %s to %s\n", k, s.node, s.candidate);
	}
}

static int confirm(const up_args *u, fl_err *err)
{
	if (u->yes)
		return 0;
	if (!isatty(STDIN_FILENO))
		return fl_fail(err, FL_ERR_USAGE,
			       "upgrade: stdin is not a terminal, so cannot confirm\nHINT: add --yes");
	fprintf(stderr, "Go on? [y/N] ");
	char line[16];
	if (fgets(line, sizeof line, stdin) == NULL || (line[0] != 'y' && line[0] != 'Y'))
		return fl_fail(err, FL_ERR_CONFLICT, "upgrade: not confirmed; nothing changed");
	return 0;
}

static void print_summary(const up_args *u, const up_result *r)
{
	if (u->json) {
		json_t *nodes = json_array();
		for (int i = 0; i < r->n_rows; i++)
			json_array_append_new(nodes,
					      json_pack("{s:s, s:s, s:s, s:f, s:f, s:b}", "node", r->rows[i].node,
							"from", r->rows[i].from, "to", u->image, "drained_seconds",
							r->rows[i].drained_s, "catch_up_seconds", r->rows[i].catch_up_s,
							"recloned", r->rows[i].recloned));
		json_t *o = json_pack("{s:s, s:s, s:o, s:f}", "project", u->st.project, "image", u->image, "nodes",
				      nodes, "seconds", clock_mono() - u->t0);
		json_object_set_new(o, "switchover",
				    r->switchover_s < 0 ? json_null()
							: json_pack("{s:s, s:s, s:f}", "from", r->old_leader, "to",
								    r->new_leader, "seconds", r->switchover_s));
		char *text = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(o);
		return;
	}
	printf("Upgrade of %s to %s done in %.1f s.\n", u->st.project, u->image, clock_mono() - u->t0);
	printf("%-8s %-28s %-12s %-12s %s\n", "Node", "From", "Drained (s)", "Catch-up (s)", "Re-cloned");
	for (int i = 0; i < r->n_rows; i++)
		printf("%-8s %-28s %-12.1f %-12.1f %s\n", r->rows[i].node, r->rows[i].from, r->rows[i].drained_s,
		       r->rows[i].catch_up_s, r->rows[i].recloned ? "yes" : "no");
	if (r->switchover_s >= 0)
		printf("Switchover %s -> %s: %.1f s (the only write pause)\n", r->old_leader, r->new_leader,
		       r->switchover_s);
}

/* ---- the command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: flotilla upgrade --image flotilla/db:TAG [--stack ha|dev] [OPTIONS]\n\n"
		"Rolls a new database image through a running compose stack, one node at a time: each replica\n"
		"drained in HAProxy until its sessions end, recreated on the image with its volume (no\n"
		"re-clone), waited for until it streams and has caught up, made ready; then a switchover to an\n"
		"upgraded replica, and the old leader last. Refuses a cluster that is paused, lagging,\n"
		"without a leader or taking a backup; stops at a failed step, the node left drained and the\n"
		"cluster serving; run again, it resumes. After it, keep FLOTILLA_TAG=TAG for docker-compose.\n"
		"With --swarm, the stack deployed to Docker Swarm (flotilla stack deploy): each member's\n"
		"service updated (docker service update --image) in the same order.\n\n"
		"  --image IMAGE      flotilla/db:TAG (or TAG), built beforehand (FLOTILLA_TAG=TAG images/build)\n"
		"  --stack NAME       ha (default) or dev\n"
		"  --swarm            the stack runs on Docker Swarm, as --project\n"
		"  --project NAME     the compose project (default flotilla-STACK)\n"
		"  --secrets DIR      the secrets' directory (default as flotilla stack)\n"
		"  --timeout SECONDS  how long a node may take to stream again (default %.0f)\n"
		"  --dry-run          print the plan and stop\n"
		"  --yes              do not ask (needed when stdin is not a terminal)\n"
		"  --json             the summary as JSON\n\n"
		"Exit codes: 0 done, 2 usage, 9 a node did not come back in time, 10 image or container not\n"
		"found, 11 the cluster's state forbids it or a step failed.\n",
		UP_DEFAULT_TIMEOUT);
}

enum { UP_IMAGE = 0x300, UP_STACK, UP_PROJECT, UP_SECRETS, UP_TIMEOUT, UP_DRY_RUN, UP_YES, UP_JSON, UP_SWARM };

static int image_set(up_args *u, const char *image, fl_err *err)
{
	const char *tag = strchr(image, ':') ? strrchr(image, ':') + 1 : image;
	if (strchr(image, ':') && strncmp(image, UP_REPO ":", sizeof UP_REPO) != 0)
		return fl_fail(
			err, FL_ERR_USAGE,
			"upgrade: --image \"%s\" is not %s:TAG\nHINT: the stacks run %s:${FLOTILLA_TAG}; build the "
			"new one with FLOTILLA_TAG=TAG images/build",
			image, UP_REPO, UP_REPO);
	size_t n = strlen(tag);
	if (n == 0 || n > 64 || strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n ||
	    tag[0] == '.' || tag[0] == '-')
		return fl_fail(err, FL_ERR_USAGE, "upgrade: \"%s\" is not an image tag", tag);
	snprintf(u->image, sizeof u->image, "%s:%s", UP_REPO, tag);
	u->tag = strchr(u->image, ':') + 1;
	return 0;
}

static int parse(int argc, char **argv, up_args *u, fl_err *err)
{
	static const struct option longopts[] = {
		{"image", required_argument, NULL, UP_IMAGE},
		{"stack", required_argument, NULL, UP_STACK},
		{"project", required_argument, NULL, UP_PROJECT},
		{"secrets", required_argument, NULL, UP_SECRETS},
		{"timeout", required_argument, NULL, UP_TIMEOUT},
		{"dry-run", no_argument, NULL, UP_DRY_RUN},
		{"yes", no_argument, NULL, UP_YES},
		{"json", no_argument, NULL, UP_JSON},
		{"swarm", no_argument, NULL, UP_SWARM},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *stack = getenv("FLOTILLA_STACK"), *project = NULL, *secrets = getenv("FLOTILLA_SECRETS");
	u->st.timeout = UP_DEFAULT_TIMEOUT;
	u->st.cmd = "upgrade";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case UP_IMAGE:
			if (image_set(u, optarg, err) < 0)
				return -1;
			break;
		case UP_STACK:
			stack = optarg;
			break;
		case UP_PROJECT:
			project = optarg;
			break;
		case UP_SECRETS:
			secrets = optarg;
			break;
		case UP_TIMEOUT:
			u->st.timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(u->st.timeout > 0 && u->st.timeout <= 86400))
				return fl_fail(err, FL_ERR_USAGE,
					       "upgrade: --timeout \"%s\" is not in 0..86400 seconds", optarg);
			break;
		case UP_DRY_RUN:
			u->dry_run = true;
			break;
		case UP_YES:
			u->yes = true;
			break;
		case UP_JSON:
			u->json = true;
			break;
		case UP_SWARM:
			u->st.swarm = true;
			break;
		case 'h':
			u->help = true;
			return 0;
		default:
			return fl_fail(
				err, FL_ERR_USAGE,
				"upgrade: unknown option or missing value \"%s\"\nHINT: run flotilla upgrade --help",
				argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fl_fail(err, FL_ERR_USAGE, "upgrade: unexpected argument \"%s\"", argv[optind]);
	if (u->image[0] == '\0')
		return fl_fail(err, FL_ERR_USAGE, "upgrade: --image flotilla/db:TAG is required");
	if (stack != NULL && strcmp(stack, "single") == 0)
		return fl_fail(err, FL_ERR_USAGE, "upgrade: stack single has one node: nothing to roll through");
	if (u->st.swarm && stack != NULL && strcmp(stack, "ha") != 0)
		return fl_fail(err, FL_ERR_USAGE, "upgrade: Swarm runs the ha stack (stacks/ha/docker-stack.yml)");
	return stack_select(&u->st, stack, project, secrets, err);
}

/* The steps until every member runs the image, each after the refusals are checked again. */
static int upgrade_run(up_args *u, up_result *r, fl_err *err)
{
	bool planned = false;
	for (int steps = 0;; steps++) {
		upgrade_view v;
		char why[256];
		if (read_view(u, NULL, &v, err) < 0)
			return -1;
		/* Refused at the start; after a step, the cluster gets until --timeout to settle (a rejoin, a lag). */
		double until = clock_mono() + u->st.timeout, said = 0;
		while (upgrade_refusal(&v, u->image_id, UP_MAX_LAG_MB, why, sizeof why) < 0) {
			if (!planned)
				return fl_fail(err, FL_ERR_CONFLICT, "upgrade: refused: %s", why);
			if (clock_mono() > until)
				return fl_fail(
					err, FL_ERR_TIMEOUT,
					"upgrade: the cluster did not settle within %.0f s after the last step: %s",
					u->st.timeout, why);
			if (clock_mono() - said >= 5) {
				progress(u, "waiting for the cluster to settle: %s", why);
				said = clock_mono();
			}
			clock_sleep(1.0);
			if (read_view(u, NULL, &v, err) < 0)
				return -1;
		}
		if (!planned) {
			print_plan(u, v);
			if (u->dry_run)
				return 0;
			if (confirm(u, err) < 0)
				return -1;
			planned = true;
		}
		upgrade_step s = upgrade_next(&v, u->image_id);
		if (s.kind == UPGRADE_DONE)
			return 0;
		if (steps >= 2 * UPGRADE_MAX_MEMBERS)
			return fl_fail(err, FL_ERR_INTERNAL, "upgrade: no end after %d steps", steps);
		if (s.kind == UPGRADE_SWITCHOVER) {
			if (switchover_step(u, &s, r, err) < 0)
				return -1;
			continue;
		}
		if (r->n_rows < UPGRADE_MAX_MEMBERS && node_step(u, s.node, &r->rows[r->n_rows], err) < 0)
			return -1;
		r->n_rows++;
	}
}

int cmd_upgrade(int argc, char **argv, fl_err *err)
{
	up_args u = {0};
	if (parse(argc, argv, &u, err) < 0)
		return -1;
	if (u.help) {
		usage(stdout);
		return 0;
	}
	if (stack_locate(&u.st, err) < 0)
		return -1;
	char *inspect[] = {"docker", "image", "inspect", "-f", "{{.Id}}", u.image, NULL};
	fl_err missing = {0};
	if (first_line(inspect, u.image_id, sizeof u.image_id, &missing) < 0)
		return fl_fail(
			err, FL_ERR_NOT_FOUND,
			"upgrade: image %s is not on this Docker engine\nHINT: build it: FLOTILLA_TAG=%s images/build",
			u.image, u.tag);
	/* docker-compose makes the recreated containers from flotilla/db:${FLOTILLA_TAG}. */
	if (setenv("FLOTILLA_TAG", u.tag, 1) < 0)
		return fl_fail(err, FL_ERR_INTERNAL, "upgrade: setenv failed");
	u.t0 = clock_mono();
	up_result r = {.switchover_s = -1};
	if (upgrade_run(&u, &r, err) < 0)
		return -1;
	if (!u.dry_run)
		print_summary(&u, &r);
	return 0;
}
