/*
 * postgres: process control and SQL for the local PostgreSQL. The postmaster
 * is started directly (not through pg_ctl) so that it is our child: its exit
 * is seen through SIGCHLD at once, and a stop waits on waitpid. The long
 * programs (initdb, pg_basebackup, pg_rewind) run as jobs on the event loop
 * (common/proc), so that the agent renews its lease, publishes its record and
 * answers its API while they run; pg_controldata, which only reads a file,
 * runs to completion.
 */
#include "postgres.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/lsn.h"
#include "common/clock.h"
#include "common/hostport.h"
#include "common/proc.h"
#include "pg/basebackup.h"
#include "pg/controldata.h"
#include "pg/deadline.h"
#include "pg/passfile.h"
#include "pg/pgsetting.h"
#include "pg/pidfile.h"
#include "pg/recovery_conf.h"
#include "pg/session.h"
#include "common/log.h"
#include "common/secret.h"

#define MAX_CRASHES 64
#define PG_INITDB_TIMEOUT 600.0
/* bootstrap.post_init may load a dump: an hour. */
#define PG_POST_INIT_TIMEOUT 3600.0
#define PG_PROMOTE_TIMEOUT 8.0
/* WAL a replication slot may hold back for a member that does not stream; postgresql.parameters overrides it. */
#define PG_MAX_SLOT_WAL_KEEP "2GB"

struct postgres {
	const options *o;
	pid_t pid;      /* our postmaster child, 0 when none */
	bool stopping;  /* a stop we asked for is under way */
	pid_t stop_pid; /* the postmaster being stopped (our child, or an orphan from postmaster.pid) */
	bool stop_child;
	double stop_deadline; /* monotonic: escalate past it */
	int stop_escalated;   /* 0, then 1 after SIGQUIT, 2 after SIGKILL */
	bool stopped;         /* down because we stopped it (not a crash, not an operator) */
	bool may_write;       /* started as a primary, or asked to promote: the fence guards it */
	pg_session *session;  /* the local connection (statement_timeout and the deadline bound every query) */
	double deadline;      /* clock_mono(): a leader's fencing deadline, which no call outlives (0: none) */
	pg_runtime rt;
	/* What changes slowly, read every SLOW_READ_EVERY seconds rather than at every tick (slow_probe). */
	double slow_read_at;
	uint64_t pg_wal_bytes, archive_ready, archived, archive_failed;
	bool pending_restart;
	pg_replication_row replication[CLUSTER_MAX_MEMBERS];
	int n_replication;
	/* The server's version and identifier, read once for each postmaster (identity_start: its start time). */
	double identity_start;
	long server_version;
	char system_id[24];
	/* pg_settings' rows, read with the identity: the rules a dynamic parameter's value is checked by. */
	pgsetting *settings;
	int n_settings;
	/* The dynamic configuration's parameters ("name=value", checked) and pg_hba lines (NULL: the built-in rules). */
	str_list dyn_params;
	char *dyn_hba;
	char passfile[PATH_MAX];
	char host[128]; /* listen host */
	int port;
	double crashes[MAX_CRASHES];
	int n_crashes;
	struct event_base *base;
	/* The job under way (one at a time), and what to do when it ends. */
	proc *job;
	const char *job_name; /* "initdb", "pg_basebackup", "pg_rewind" */
	double job_timeout;
	int (*job_after)(postgres *pg, int rc, fl_err *err); /* follow-up on the result, may be NULL */
	postgres_job_fn job_done;
	void *job_arg;
	int64_t job_bytes_done, job_bytes_total;
};

/* Addresses were checked when they were read (settings, member records); a bad one leaves host empty. */
static void split_hostport(const char *hp, char *host, size_t hlen, int *port)
{
	if (hostport_parse(hp, host, hlen, port) < 0) {
		host[0] = '\0';
		*port = 0;
	}
}

postgres *postgres_new(const options *o, struct event_base *base, fl_err *err)
{
	postgres *pg = calloc(1, sizeof *pg);
	pg->o = o;
	pg->base = base;
	split_hostport(o->listen, pg->host, sizeof pg->host, &pg->port);
	snprintf(pg->passfile, sizeof pg->passfile, "%s/pgpass", o->state_dir);
	if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST) {
		fl_fail(err, FL_ERR_IO, "state_dir: cannot create %s: %s", o->state_dir, strerror(errno));
		free(pg);
		return NULL;
	}
	/* It holds the socket that trusts local connections and the passfile: ours alone. */
	struct stat st;
	if (stat(o->state_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		fl_fail(err, FL_ERR_CONFIG,
			"state_dir: %s must be a directory of this user with no access for others (mode %04o, owner "
			"%d)\n"
			"HINT: chown it to the agent's user and chmod 700 it",
			o->state_dir, (unsigned)(st.st_mode & 07777), (int)st.st_uid);
		free(pg);
		return NULL;
	}
	/* The local socket; statement_timeout bounds every query of the loop, so a stuck server cannot stall fencing. */
	pg->session = pg_session_new(o->state_dir, pg->port, o->superuser, "postgres", "flotilla-replicator", 2, 10);
	if (pg->session == NULL) {
		fl_fail(err, FL_ERR_INTERNAL, "postgres: out of memory");
		free(pg);
		return NULL;
	}
	return pg;
}

void postgres_free(postgres *pg)
{
	if (pg == NULL)
		return;
	proc_free(pg->job);
	pg_session_free(pg->session);
	free(pg->settings);
	for (int i = 0; i < pg->dyn_params.n; i++)
		free(pg->dyn_params.v[i]);
	free(pg->dyn_params.v);
	free(pg->dyn_hba);
	free(pg);
}

const pg_runtime *postgres_runtime(const postgres *pg) { return &pg->rt; }

void postgres_slot_name(const char *member, char *buf, int len)
{
	snprintf(buf, (size_t)len, "%s", member);
	for (char *p = buf; *p; p++)
		if (*p == '-')
			*p = '_';
}

int postgres_write_passfile(postgres *pg, fl_err *err)
{
	char su[512], repl[512], l1[1200], l2[1200];
	if (secret_read("superuser password", pg->o->superuser_password_file, su, sizeof su, err) < 0 ||
	    secret_read("replication password", pg->o->replication_password_file, repl, sizeof repl, err) < 0)
		return -1;
	int rc = 0;
	if (passfile_line("*", "*", "*", pg->o->replication_user, repl, l1, sizeof l1) < 0 ||
	    passfile_line("*", "*", "*", pg->o->superuser, su, l2, sizeof l2) < 0)
		rc = fl_fail(err, FL_ERR_SECRET,
			     "secret: a password or role name holds a line break, which a passfile cannot carry");
	const char *lines[] = {l1, l2};
	if (rc == 0)
		rc = passfile_write(pg->passfile, lines, 2, err);
	explicit_bzero(su, sizeof su);
	explicit_bzero(repl, sizeof repl);
	explicit_bzero(l1, sizeof l1);
	explicit_bzero(l2, sizeof l2);
	return rc;
}

static void data_path(const postgres *pg, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pg->o->data_dir, name);
}

bool postgres_data_valid(const postgres *pg)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	data_path(pg, "PG_VERSION", p1, sizeof p1);
	data_path(pg, "global/pg_control", p2, sizeof p2);
	return access(p1, R_OK) == 0 && access(p2, R_OK) == 0;
}

/* Runs a program of bin_dir with argv, waits, captures stdout into out (may be NULL). */
static int run_tool(postgres *pg, const char *prog, char *argv[], char *out, size_t outlen, fl_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", pg->o->bin_dir, prog);
	int pipefd[2] = {-1, -1};
	if (out && pipe(pipefd) < 0)
		return fl_fail(err, FL_ERR_IO, "%s: pipe: %s", prog, strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return fl_fail(err, FL_ERR_IO, "%s: fork: %s", prog, strerror(errno));
	if (pid == 0) {
		if (out) {
			dup2(pipefd[1], 1);
			close(pipefd[0]);
			close(pipefd[1]);
		} else {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
		}
		setenv("PGPASSFILE", pg->passfile, 1);
		setenv("LC_ALL", "C", 1);
		/* A full argv[0] lets pg_rewind and initdb find their sibling programs. */
		argv[0] = path;
		execv(path, argv);
		_exit(127);
	}
	size_t used = 0;
	if (out) {
		close(pipefd[1]);
		ssize_t r;
		while ((r = read(pipefd[0], out + used, outlen - 1 - used)) > 0 && used + (size_t)r < outlen - 1)
			used += (size_t)r;
		if (r > 0)
			used += (size_t)r;
		out[used] = '\0';
		close(pipefd[0]);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fl_fail(err, FL_ERR_POSTGRES, "%s failed (exit status %d)", prog,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

int postgres_control(postgres *pg, bool *was_primary, long *timeline, fl_err *err)
{
	uint64_t ckpt;
	return postgres_control_checkpoint(pg, was_primary, timeline, &ckpt, err);
}

int postgres_control_checkpoint(postgres *pg, bool *was_primary, long *timeline, uint64_t *checkpoint, fl_err *err)
{
	char out[8192];
	char *argv[] = {"pg_controldata", "-D", pg->o->data_dir, NULL};
	if (run_tool(pg, "pg_controldata", argv, out, sizeof out, err) < 0)
		return -1;
	controldata c;
	if (controldata_parse(out, &c, err) < 0)
		return -1;
	*was_primary = c.was_primary;
	*timeline = c.timeline;
	*checkpoint = c.checkpoint;
	return 0;
}

static int write_file(const char *path, const char *text, fl_err *err)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return fl_fail(err, FL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

static const char hba[] = "# Written by flotilla-replicator at bootstrap.\n"
			  "# The local socket lives in the agent's private state_dir (mode 0700).\n"
			  "local   all             all                     trust\n"
			  "local   replication     all                     trust\n"
			  "host    all             all         all         scram-sha-256\n"
			  "host    replication     all         all         scram-sha-256\n";

#define HBA_OURS "# Written by flotilla-replicator"

/*
 * pg_hba.conf, while it is ours (it begins as the bootstrap wrote it): the
 * built-in rules, or the local socket's two and then postgresql.pg_hba's
 * lines. A file an operator wrote is left alone.
 */
static int write_hba(postgres *pg, fl_err *err)
{
	char path[PATH_MAX], head[sizeof HBA_OURS] = "";
	data_path(pg, "pg_hba.conf", path, sizeof path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t got = fread(head, 1, sizeof head - 1, f);
	fclose(f);
	head[got] = '\0';
	if (strcmp(head, HBA_OURS) != 0)
		return 0;
	if (pg->dyn_hba == NULL)
		return write_file(path, hba, err);
	size_t len = strlen(pg->dyn_hba) + 512;
	char *text = malloc(len);
	if (text == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	snprintf(text, len,
		 HBA_OURS " from the dynamic configuration (postgresql.pg_hba).\n"
			  "# The local socket lives in the agent's private state_dir (mode 0700).\n"
			  "local   all             all                     trust\n"
			  "local   replication     all                     trust\n"
			  "%s",
		 pg->dyn_hba);
	int rc = write_file(path, text, err);
	free(text);
	return rc;
}

int postgres_check_param(const postgres *pg, const char *name, const char *value, char *why, size_t len)
{
	if (pg->n_settings == 0)
		return 1;
	const pgsetting *s = pgsetting_find(pg->settings, pg->n_settings, name);
	if (s == NULL) {
		if (strchr(name, '.') != NULL)
			return 0; /* an extension's parameter, judged when the extension loads */
		snprintf(why, len, "unrecognized configuration parameter \"%s\"", name);
		return -1;
	}
	return pgsetting_check(s, value, why, len);
}

bool postgres_param_needs_restart(const postgres *pg, const char *name)
{
	const pgsetting *s = pgsetting_find(pg->settings, pg->n_settings, name);
	return s != NULL && strcmp(s->context, "postmaster") == 0;
}

void postgres_set_dynamic(postgres *pg, str_list *params, const char *const *hba_lines, int n_hba)
{
	for (int i = 0; i < pg->dyn_params.n; i++)
		free(pg->dyn_params.v[i]);
	free(pg->dyn_params.v);
	pg->dyn_params = *params;
	*params = (str_list){0};
	free(pg->dyn_hba);
	pg->dyn_hba = NULL;
	if (n_hba == 0)
		return;
	size_t len = 1;
	for (int i = 0; i < n_hba; i++)
		len += strlen(hba_lines[i]) + 1;
	pg->dyn_hba = malloc(len);
	if (pg->dyn_hba == NULL)
		return;
	pg->dyn_hba[0] = '\0';
	for (int i = 0; i < n_hba; i++) {
		strcat(pg->dyn_hba, hba_lines[i]);
		strcat(pg->dyn_hba, "\n");
	}
}

/* Appends the include of flotilla.conf to postgresql.conf once. */
static int ensure_include(postgres *pg, fl_err *err)
{
	char path[PATH_MAX];
	data_path(pg, "postgresql.conf", path, sizeof path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fl_fail(err, FL_ERR_DATADIR, "data_dir: cannot read %s: %s", path, strerror(errno));
	char line[1024];
	bool found = false;
	while (fgets(line, sizeof line, f))
		found |= strncmp(line, "include_if_exists = 'flotilla.conf'", 35) == 0;
	fclose(f);
	if (found)
		return 0;
	f = fopen(path, "a");
	if (f == NULL)
		return fl_fail(err, FL_ERR_DATADIR, "data_dir: cannot append to %s: %s", path, strerror(errno));
	fprintf(f, "\n# Settings managed by flotilla-replicator; they override the ones above.\ninclude_if_exists = "
		   "'flotilla.conf'\n");
	fclose(f);
	return 0;
}

/* A setting's value between single quotes: a quote doubled, a backslash too (postgresql.conf's escapes). */
static void conf_quoted(const char *v, char *buf, size_t len)
{
	size_t j = 0;
	for (; *v && j + 3 < len; v++) {
		if (*v == '\'' || *v == '\\')
			buf[j++] = *v;
		if (*v != '\n' && *v != '\r')
			buf[j++] = *v;
	}
	buf[j] = '\0';
}

static int write_conf(postgres *pg, const pg_runtime *rt, fl_err *err)
{
	const options *o = pg->o;
	char buf[16384], ssn[2 * sizeof rt->ssn];
	conf_quoted(rt->ssn, ssn, sizeof ssn);
	char listen[160];
	snprintf(listen, sizeof listen, "%s", strcmp(pg->host, "0.0.0.0") == 0 ? "*" : pg->host);
	int off = snprintf(buf, sizeof buf,
			   "# Managed by flotilla-replicator: rewritten on every start and role change.\n"
			   "listen_addresses = '%s'\n"
			   "port = %d\n"
			   "unix_socket_directories = '%s'\n"
			   "cluster_name = '%s-%s'\n"
			   "wal_level = replica\n"
			   "hot_standby = on\n"
			   "max_wal_senders = 10\n"
			   "max_replication_slots = 10\n"
			   "wal_keep_size = '128MB'\n"
			   /* A member that publishes a record but does not stream cannot fill the disk. */
			   "max_slot_wal_keep_size = '%s'\n"
			   "wal_log_hints = on\n"
			   "hot_standby_feedback = on\n"
			   "wal_receiver_status_interval = '1s'\n"
			   "wal_retrieve_retry_interval = '500ms'\n"
			   "recovery_target_timeline = 'latest'\n"
			   "log_line_prefix = '%%m [%%p] postgres node=%s '\n"
			   "synchronous_standby_names = '%s'\n",
			   listen, pg->port, o->state_dir, o->scope, o->name, PG_MAX_SLOT_WAL_KEEP, o->name, ssn);
	if (rt->upstream[0]) {
		char host[128];
		int port = 0;
		char slot[CLUSTER_NAME_MAX];
		split_hostport(rt->upstream_address, host, sizeof host, &port);
		postgres_slot_name(o->name, slot, sizeof slot);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
				"primary_conninfo = 'host=%s port=%d user=%s passfile=''%s'' application_name=%s "
				"connect_timeout=2'\n"
				"primary_slot_name = '%s'\n",
				host, port, o->replication_user, pg->passfile, o->name, slot);
	} else {
		off += snprintf(buf + off, sizeof buf - (size_t)off, "primary_conninfo = ''\nprimary_slot_name = ''\n");
	}
	/*
	 * Archiving to the backup sidecar: every member archives what it writes or receives (always), so a
	 * segment a crashed primary never archived comes from a replica that streamed it; the sidecar takes
	 * an identical second copy as done. A replica that fell behind what the leader keeps reads the archive.
	 */
	if (o->backup_url[0] != '\0') {
		char self[PATH_MAX];
		proc_self_dir(self, sizeof self);
		off += snprintf(buf + off, sizeof buf - (size_t)off,
				"archive_mode = always\n"
				"archive_command = '%s/flotilla-wal push --url %s --token-file %s %%p'\n"
				"archive_timeout = '60s'\n"
				"restore_command = '%s/flotilla-wal get --url %s --token-file %s %%f %%p'\n",
				self, o->backup_url, o->backup_token_file, self, o->backup_url, o->backup_token_file);
	}
	/*
	 * After ours, the cluster's dynamic parameters, then this node's postgresql.parameters: each overrides
	 * what comes before it (the last setting wins).
	 */
	const str_list *lists[] = {&pg->dyn_params, &o->pg_parameters};
	for (int l = 0; l < 2; l++)
		for (int i = 0; i < lists[l]->n && off < (int)sizeof buf; i++) {
			const char *item = lists[l]->v[i], *eq = strchr(item, '=');
			char value[1024];
			conf_quoted(eq + 1, value, sizeof value);
			off += snprintf(buf + off, sizeof buf - (size_t)off, "%.*s = '%s'\n", (int)(eq - item), item,
					value);
		}
	if (off >= (int)sizeof buf)
		return fl_fail(err, FL_ERR_CONFIG, "flotilla.conf would exceed %zu bytes", sizeof buf);
	char path[PATH_MAX];
	data_path(pg, "flotilla.conf", path, sizeof path);
	if (write_file(path, buf, err) < 0 || ensure_include(pg, err) < 0 || write_hba(pg, err) < 0)
		return -1;
	pg->rt = *rt;
	return 0;
}

/* ---- jobs: the long programs, on the event loop ---- */

static void job_line(void *arg, const char *line)
{
	postgres *pg = arg;
	int64_t done, total;
	if (basebackup_progress(line, &done, &total)) {
		pg->job_bytes_done = done;
		pg->job_bytes_total = total;
		return;
	}
	log_info("%s: %s", pg->job_name, line);
}

static void job_end(void *arg, const proc_result *r)
{
	postgres *pg = arg;
	fl_err err = {0};
	int rc = 0;
	if (r->status != 0) {
		char why[512];
		proc_describe(r, pg->job_timeout, why, sizeof why);
		rc = fl_fail(&err, FL_ERR_POSTGRES, "%s failed (%s)", pg->job_name, why);
	}
	if (pg->job_after)
		rc = pg->job_after(pg, rc, &err);
	proc_free(pg->job);
	pg->job = NULL;
	postgres_job_fn done = pg->job_done;
	pg->job_done = NULL;
	done(pg->job_arg, rc, &err);
}

/* Starts the job's program (path, with env added to the agent's environment). */
static int job_start(postgres *pg, const char *prog, const char *path, char *argv[], char *const env[], double timeout,
		     int (*after)(postgres *, int, fl_err *), postgres_job_fn done, void *arg, fl_err *err)
{
	if (pg->job != NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "%s: %s is still running", prog, pg->job_name);
	pg->job_name = prog;
	pg->job_timeout = timeout;
	pg->job_after = after;
	pg->job_done = done;
	pg->job_arg = arg;
	pg->job_bytes_done = pg->job_bytes_total = 0;
	proc_spec spec = {.path = path,
			  .argv = argv,
			  .env = env,
			  .timeout = timeout,
			  .on_line = job_line,
			  .on_done = job_end,
			  .arg = pg};
	pg->job = proc_start(pg->base, &spec, err);
	return pg->job ? 0 : -1;
}

/* A job running one of PostgreSQL's programs, from bin_dir. */
static int job_begin(postgres *pg, const char *prog, char *argv[], double timeout,
		     int (*after)(postgres *, int, fl_err *), postgres_job_fn done, void *arg, fl_err *err)
{
	char path[PATH_MAX], passfile[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/%s", pg->o->bin_dir, prog);
	snprintf(passfile, sizeof passfile, "PGPASSFILE=%s", pg->passfile);
	char *env[] = {passfile, "LC_ALL=C", NULL};
	/* A full argv[0] lets pg_rewind and initdb find their sibling programs. */
	argv[0] = path;
	return job_start(pg, prog, path, argv, env, timeout, after, done, arg, err);
}

bool postgres_job_running(const postgres *pg) { return pg->job != NULL; }

bool postgres_job_cancel(postgres *pg)
{
	if (pg->job == NULL)
		return false;
	proc_free(pg->job);
	pg->job = NULL;
	pg->job_done = NULL;
	if (pg->job_after)
		pg->job_after(pg, -1, NULL);
	return true;
}

void postgres_job_progress(const postgres *pg, int64_t *done, int64_t *total)
{
	*done = pg->job_bytes_done;
	*total = pg->job_bytes_total;
}

static int initdb_after(postgres *pg, int rc, fl_err *err)
{
	if (rc < 0)
		return -1;
	char path[PATH_MAX];
	data_path(pg, "pg_hba.conf", path, sizeof path);
	return write_file(path, hba, err);
}

int postgres_post_init_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err)
{
	char pghost[PATH_MAX + 16], pgport[32], pguser[160], bindir[PATH_MAX + 64];
	/* Over the Unix socket, where the new cluster trusts its superuser (initdb's --auth-local=trust). */
	snprintf(pghost, sizeof pghost, "PGHOST=%s", pg->o->state_dir);
	snprintf(pgport, sizeof pgport, "PGPORT=%d", pg->port);
	snprintf(pguser, sizeof pguser, "PGUSER=%s", pg->o->superuser);
	snprintf(bindir, sizeof bindir, "FLOTILLA_BIN_DIR=%s", pg->o->bin_dir);
	char *env[] = {pghost, pgport, pguser, "PGDATABASE=postgres", bindir, NULL};
	char *argv[] = {pg->o->post_init, NULL};
	return job_start(pg, "post_init", pg->o->post_init, argv, env, PG_POST_INIT_TIMEOUT, NULL, done, arg, err);
}

int postgres_restore_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err)
{
	char prog[PATH_MAX + 32], self[PATH_MAX];
	if (proc_self_dir(self, sizeof self) < 0)
		return fl_fail(err, FL_ERR_INTERNAL, "restore: cannot find this program's directory");
	snprintf(prog, sizeof prog, "%s/flotilla-backup", self);
	char *argv[16];
	int n = 0;
	argv[n++] = prog;
	argv[n++] = "restore";
	argv[n++] = "--bootstrap";
	argv[n++] = "--repo";
	argv[n++] = pg->o->restore_repo;
	argv[n++] = "--target";
	argv[n++] = pg->o->data_dir;
	uint64_t lsn;
	if (pg->o->restore_target[0] != '\0') {
		argv[n++] = lsn_parse(pg->o->restore_target, &lsn) == 0 ? "--lsn" : "--time";
		argv[n++] = pg->o->restore_target;
	}
	if (pg->o->restore_key_file[0] != '\0') {
		argv[n++] = "--key-file";
		argv[n++] = pg->o->restore_key_file;
	}
	argv[n] = NULL;
	char *env[] = {"LC_ALL=C", NULL};
	return job_start(pg, "restore", prog, argv, env, pg->o->restore_timeout, initdb_after, done, arg, err);
}

static PGresult *query(postgres *pg, const char *sql, fl_err *err);

int postgres_restore_settings_drop(postgres *pg, bool *dropped, fl_err *err)
{
	char path[PATH_MAX];
	data_path(pg, "postgresql.auto.conf", path, sizeof path);
	*dropped = false;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : fl_fail(err, FL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char buf[65536];
	size_t len = fread(buf, 1, sizeof buf - 1, f);
	bool whole = feof(f);
	fclose(f);
	if (!whole)
		return fl_fail(err, FL_ERR_IO, "%s is larger than 64 KiB", path);
	buf[len] = '\0';
	char *kept = recovery_conf_strip(buf, dropped);
	if (kept == NULL)
		return fl_fail(err, FL_ERR_INTERNAL, "out of memory");
	int rc = *dropped ? write_file(path, kept, err) : 0;
	free(kept);
	if (rc == 0 && *dropped) {
		PGresult *r = query(pg, "SELECT pg_reload_conf()", err);
		if (r == NULL)
			return -1;
		PQclear(r);
	}
	return rc;
}

int postgres_initdb_begin(postgres *pg, postgres_job_fn done, void *arg, fl_err *err)
{
	char pwfile[PATH_MAX + 16], user[128];
	snprintf(pwfile, sizeof pwfile, "--pwfile=%s", pg->o->superuser_password_file);
	snprintf(user, sizeof user, "--username=%s", pg->o->superuser);
	char *argv[] = {"initdb",
			"-D",
			pg->o->data_dir,
			"--data-checksums",
			"--encoding=UTF8",
			"--locale=C.UTF-8",
			user,
			pwfile,
			"--auth-local=trust",
			"--auth-host=scram-sha-256",
			NULL};
	return job_begin(pg, "initdb", argv, PG_INITDB_TIMEOUT, initdb_after, done, arg, err);
}

static int clone_after(postgres *pg, int rc, fl_err *err)
{
	(void)err;
	if (rc < 0) {
		postgres_remove_data(pg, NULL);
		return -1;
	}
	char path[PATH_MAX];
	data_path(pg, "postmaster.pid", path, sizeof path);
	unlink(path);
	return 0;
}

int postgres_clone_begin(postgres *pg, const char *leader_address, postgres_job_fn done, void *arg, fl_err *err)
{
	char host[128], conninfo[PATH_MAX + 256], rate[32] = "";
	int port = 0;
	split_hostport(leader_address, host, sizeof host, &port);
	snprintf(conninfo, sizeof conninfo, "host=%s port=%d user=%s passfile=%s application_name=%s connect_timeout=5",
		 host, port, pg->o->replication_user, pg->passfile, pg->o->name);
	if (pg->o->clone_max_rate > 0)
		snprintf(rate, sizeof rate, "--max-rate=%ld", pg->o->clone_max_rate);
	char *argv[] = {
		"pg_basebackup", "-D",         pg->o->data_dir,       "-d", conninfo, "-X", "stream", "-c", "fast",
		"--no-password", "--progress", rate[0] ? rate : NULL, NULL};
	return job_begin(pg, "pg_basebackup", argv, 0, clone_after, done, arg, err);
}

/* Connection string of a superuser session on another node. */
static void remote_conninfo(const postgres *pg, const char *address, char *buf, size_t len)
{
	char host[128];
	int port = 0;
	split_hostport(address, host, sizeof host, &port);
	snprintf(buf, len, "host=%s port=%d user=%s dbname=postgres passfile=%s connect_timeout=5", host, port,
		 pg->o->superuser, pg->passfile);
}

int postgres_remote_checkpoint(postgres *pg, const char *address, fl_err *err)
{
	char conninfo[PATH_MAX + 256];
	remote_conninfo(pg, address, conninfo, sizeof conninfo);
	PGconn *c = PQconnectdb(conninfo);
	int rc = 0;
	if (PQstatus(c) != CONNECTION_OK) {
		rc = fl_fail(err, FL_ERR_POSTGRES, "connecting to %s failed: %s", address, PQerrorMessage(c));
	} else {
		PGresult *r = PQexec(c, "CHECKPOINT");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fl_fail(err, FL_ERR_POSTGRES, "CHECKPOINT on %s failed: %s", address, PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

int postgres_rewind_begin(postgres *pg, const char *leader_address, postgres_job_fn done, void *arg, fl_err *err)
{
	char conninfo[PATH_MAX + 256];
	remote_conninfo(pg, leader_address, conninfo, sizeof conninfo);
	char source[sizeof conninfo + 32];
	snprintf(source, sizeof source, "--source-server=%s", conninfo);
	char *argv[] = {"pg_rewind", "-D", pg->o->data_dir, source, NULL};
	return job_begin(pg, "pg_rewind", argv, 0, NULL, done, arg, err);
}

static int remove_tree(const char *path);

/* Removes everything inside the directory path (not path itself); -1 with errno when it cannot be opened. */
static int remove_entries(const char *path, int *failures)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char child[PATH_MAX];
		snprintf(child, sizeof child, "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			*failures += remove_tree(child) != 0;
		else
			*failures += unlink(child) != 0;
	}
	closedir(d);
	return 0;
}

static int remove_tree(const char *path)
{
	int failures = 0;
	if (remove_entries(path, &failures) < 0)
		return errno == ENOENT ? 0 : unlink(path);
	return failures || rmdir(path) != 0 ? -1 : 0;
}

int postgres_remove_data(postgres *pg, fl_err *err)
{
	/* Keep the directory itself: it may be a mount point. */
	int failures = 0;
	if (remove_entries(pg->o->data_dir, &failures) < 0)
		return errno == ENOENT ? 0
				       : fl_fail(err, FL_ERR_DATADIR, "data_dir: cannot open %s: %s", pg->o->data_dir,
						 strerror(errno));
	if (failures)
		return fl_fail(err, FL_ERR_DATADIR, "data_dir: cannot empty %s (%d entries left)", pg->o->data_dir,
			       failures);
	return 0;
}

static void crash_count(postgres *pg, double now)
{
	memmove(pg->crashes + 1, pg->crashes, sizeof(double) * (MAX_CRASHES - 1));
	pg->crashes[0] = now;
	if (pg->n_crashes < MAX_CRASHES)
		pg->n_crashes++;
}

/* The files a start needs; a data directory that is full or read-only fails here. */
static int start_files(postgres *pg, bool standby, const pg_runtime *rt, fl_err *err)
{
	if (chmod(pg->o->data_dir, 0700) < 0)
		return fl_fail(err, FL_ERR_DATADIR, "data_dir: chmod %s: %s", pg->o->data_dir, strerror(errno));
	if (write_conf(pg, rt, err) < 0)
		return -1;
	char sig[PATH_MAX];
	data_path(pg, "standby.signal", sig, sizeof sig);
	if (standby)
		return write_file(sig, "", err);
	unlink(sig);
	return 0;
}

int postgres_start(postgres *pg, bool standby, const pg_runtime *rt, fl_err *err)
{
	if (pg->pid > 0)
		return fl_fail(err, FL_ERR_INTERNAL, "postgres already runs (pid %d)", (int)pg->pid);
	/* A start that fails counts as a crash: a leader that cannot start (a full or read-only data
	 * directory) gives up its key after max_restarts, as one whose postmaster keeps dying. */
	if (start_files(pg, standby, rt, err) < 0) {
		crash_count(pg, clock_mono());
		return -1;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/postgres", pg->o->bin_dir);
	pid_t pid = fork();
	if (pid < 0) {
		crash_count(pg, clock_mono());
		return fl_fail(err, FL_ERR_IO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Own process group: a terminal's ^C reaches the agent, which stops PostgreSQL in order. */
		setpgid(0, 0);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(2, 1);
		setenv("LC_ALL", "C", 1);
		/* The full path as argv[0]: postgres finds its own installation from it, whatever PATH holds. */
		execl(path, path, "-D", pg->o->data_dir, (char *)NULL);
		_exit(127);
	}
	pg->pid = pid;
	pg->stopping = false;
	pg->stopped = false;
	pg->may_write = !standby;
	log_info("postgres started as %s (pid %d)", standby ? "standby" : "primary", (int)pid);
	return 0;
}

bool postgres_stopped_by_agent(const postgres *pg) { return pg->stopped; }

bool postgres_reap(postgres *pg, double now, bool count_crash)
{
	if (pg->pid <= 0)
		return false;
	int status;
	pid_t r = waitpid(pg->pid, &status, WNOHANG);
	if (r != pg->pid)
		return false;
	bool unexpected = !pg->stopping;
	pg->pid = 0;
	pg_session_close(pg->session);
	if (!unexpected)
		return false;
	pg->stopped = false;
	const char *how = WIFEXITED(status) ? "exit status" : "signal";
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
	if (!count_crash) {
		log_info("postgres exited (%s %d); not counted as a crash", how, code);
		return true;
	}
	log_warn("postgres exited unexpectedly (%s %d)", how, code);
	crash_count(pg, now);
	return true;
}

int postgres_recent_crashes(const postgres *pg, double now, double window)
{
	int n = 0;
	for (int i = 0; i < pg->n_crashes; i++)
		if (now - pg->crashes[i] <= window)
			n++;
	return n;
}

void postgres_forget_crashes(postgres *pg) { pg->n_crashes = 0; }

/* pid of a postmaster recorded in postmaster.pid that is still alive (an orphan of an earlier agent), or 0. */
static pid_t orphan_pid(postgres *pg)
{
	pid_t pid = pg_postmaster_pid(pg->o->data_dir);
	if (pid == 0 || kill(pid, 0) < 0)
		return 0;
	char exe[PATH_MAX], link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	return strstr(exe, "postgres") ? (pid_t)pid : 0;
}

int postgres_stop_begin(postgres *pg, pg_stop_mode mode, double timeout, fl_err *err)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGQUIT};
	static const char *const names[] = {"smart", "fast", "immediate"};
	(void)err;
	bool child = pg->pid > 0;
	pid_t pid = child ? pg->pid : orphan_pid(pg);
	if (pid <= 0)
		return 1;
	pg_session_close(pg->session);
	pg->stopping = true;
	pg->stop_pid = pid;
	pg->stop_child = child;
	pg->stop_deadline = clock_mono() + timeout;
	pg->stop_escalated = mode == PG_STOP_IMMEDIATE;
	log_info("stopping postgres (pid %d, %s)", (int)pid, names[mode]);
	kill(pid, sigs[mode]);
	return 0;
}

bool postgres_stop_done(postgres *pg, double now)
{
	if (!pg->stopping)
		return true;
	bool gone;
	if (pg->stop_child) {
		int status;
		/* postgres_reap may have reaped it already (SIGCHLD). */
		gone = pg->pid == 0 || waitpid(pg->stop_pid, &status, WNOHANG) == pg->stop_pid;
	} else {
		gone = kill(pg->stop_pid, 0) < 0;
	}
	if (gone) {
		if (pg->stop_child)
			pg->pid = 0;
		pg->stopping = false;
		pg->stopped = true;
		pg->stop_pid = 0;
		log_info("postgres stopped");
		return true;
	}
	if (now <= pg->stop_deadline)
		return false;
	if (pg->stop_escalated == 0) {
		log_warn("postgres did not stop in time: stopping it immediately");
		kill(pg->stop_pid, SIGQUIT);
	} else {
		log_error("postgres (pid %d) did not stop: killing it", (int)pg->stop_pid);
		kill(pg->stop_pid, SIGKILL);
	}
	pg->stop_escalated++;
	pg->stop_deadline = now + 10;
	return false;
}

int postgres_stop(postgres *pg, pg_stop_mode mode, double timeout, fl_err *err)
{
	if (postgres_stop_begin(pg, mode, timeout, err) != 0)
		return 0;
	while (!postgres_stop_done(pg, clock_mono())) {
		if (pg->stop_escalated > 2)
			return fl_fail(err, FL_ERR_TIMEOUT, "postgres (pid %d) did not stop", (int)pg->stop_pid);
		clock_sleep(0.01);
	}
	return 0;
}

/* The local session, while our postmaster runs. */
static PGresult *query(postgres *pg, const char *sql, fl_err *err)
{
	if (pg->pid <= 0) {
		fl_fail(err, FL_ERR_POSTGRES, "postgres does not accept connections");
		return NULL;
	}
	return pg_session_query(pg->session, sql, err);
}

/*
 * What changes slowly, so not at every tick: pg_wal's size and the archiver's backlog and counts (a directory
 * listing), a setting waiting for a restart (pg_settings), and a primary's walsenders (for the REST API).
 */
#define SLOW_READ_EVERY 5.0

static void walsenders_read(postgres *pg)
{
	PGresult *r = query(pg,
			    "SELECT usename, application_name, COALESCE(host(client_addr), ''), state, sync_state, "
			    "sync_priority FROM pg_stat_replication ORDER BY 2",
			    NULL);
	if (r == NULL)
		return;
	pg->n_replication = 0;
	for (int i = 0; i < PQntuples(r) && pg->n_replication < CLUSTER_MAX_MEMBERS; i++) {
		pg_replication_row *row = &pg->replication[pg->n_replication++];
		snprintf(row->usename, sizeof row->usename, "%s", PQgetvalue(r, i, 0));
		snprintf(row->application_name, sizeof row->application_name, "%s", PQgetvalue(r, i, 1));
		snprintf(row->client_addr, sizeof row->client_addr, "%s", PQgetvalue(r, i, 2));
		snprintf(row->state, sizeof row->state, "%s", PQgetvalue(r, i, 3));
		snprintf(row->sync_state, sizeof row->sync_state, "%s", PQgetvalue(r, i, 4));
		row->sync_priority = atoi(PQgetvalue(r, i, 5));
	}
	PQclear(r);
}

static void slow_probe(postgres *pg, local_state *ls)
{
	double now = clock_mono();
	if (pg->slow_read_at == 0 || now - pg->slow_read_at >= SLOW_READ_EVERY) {
		PGresult *r =
			query(pg,
			      "SELECT (SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir()), "
			      "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), "
			      "archived_count, failed_count, EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart) "
			      "FROM pg_stat_archiver",
			      NULL);
		if (r != NULL) {
			pg->pg_wal_bytes = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
			pg->archive_ready = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
			pg->archived = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
			pg->archive_failed = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
			pg->pending_restart = PQgetvalue(r, 0, 4)[0] == 't';
			pg->slow_read_at = now;
			PQclear(r);
		}
		pg->n_replication = 0;
		if (!ls->in_recovery)
			walsenders_read(pg);
	}
	ls->pg_wal_bytes = pg->pg_wal_bytes;
	ls->archive_ready = pg->archive_ready;
	ls->archived = pg->archived;
	ls->archive_failed = pg->archive_failed;
	ls->pending_restart = pg->pending_restart;
	ls->n_replication = ls->in_recovery ? 0 : pg->n_replication;
	memcpy(ls->replication, pg->replication, sizeof ls->replication);
}

/* The server's version and system identifier: once for each postmaster (they change with a new one only). */
/* pg_settings' rules, for checking the dynamic parameters; the old rows stay when the read fails. */
static void settings_read(postgres *pg)
{
	PGresult *r =
		query(pg,
		      "SELECT name, vartype, coalesce(unit, ''), context, coalesce(min_val::float8, 0), "
		      "coalesce(max_val::float8, 0), coalesce(array_to_string(enumvals, ','), '') FROM pg_settings",
		      NULL);
	if (r == NULL)
		return;
	int n = PQntuples(r);
	pgsetting *rows = calloc((size_t)n + 1, sizeof *rows);
	if (rows == NULL) {
		PQclear(r);
		return;
	}
	for (int i = 0; i < n; i++) {
		pgsetting *s = &rows[i];
		snprintf(s->name, sizeof s->name, "%s", PQgetvalue(r, i, 0));
		snprintf(s->vartype, sizeof s->vartype, "%s", PQgetvalue(r, i, 1));
		snprintf(s->unit, sizeof s->unit, "%s", PQgetvalue(r, i, 2));
		snprintf(s->context, sizeof s->context, "%s", PQgetvalue(r, i, 3));
		s->min = atof(PQgetvalue(r, i, 4));
		s->max = atof(PQgetvalue(r, i, 5));
		snprintf(s->enumvals, sizeof s->enumvals, "%s", PQgetvalue(r, i, 6));
	}
	PQclear(r);
	free(pg->settings);
	pg->settings = rows;
	pg->n_settings = n;
}

static void identity_probe(postgres *pg, local_state *ls)
{
	if (pg->identity_start != ls->postmaster_start) {
		PGresult *r = query(
			pg, "SELECT current_setting('server_version_num'), system_identifier FROM pg_control_system()",
			NULL);
		if (r != NULL) {
			pg->server_version = atol(PQgetvalue(r, 0, 0));
			snprintf(pg->system_id, sizeof pg->system_id, "%s", PQgetvalue(r, 0, 1));
			pg->identity_start = ls->postmaster_start;
			PQclear(r);
			settings_read(pg);
			pg->slow_read_at = 0; /* a new postmaster: its pending restarts are gone, tell at once */
		}
	}
	ls->server_version = pg->server_version;
	snprintf(ls->system_id, sizeof ls->system_id, "%s", pg->system_id);
}

void postgres_probe(postgres *pg, local_state *ls)
{
	ls->running = pg->pid > 0;
	ls->answering = false;
	snprintf(ls->upstream, sizeof ls->upstream, "%s", pg->rt.upstream);
	if (!ls->running)
		return;
	PGresult *r = query(pg,
			    "SELECT pg_is_in_recovery(), "
			    "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, "
			    "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
			    "CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint()) "
			    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
			    "(SELECT count(*) FROM pg_stat_wal_receiver WHERE pid IS NOT NULL), "
			    "(SELECT received_tli FROM pg_stat_wal_receiver), "
			    "(SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'), "
			    "extract(epoch FROM pg_postmaster_start_time()), "
			    "CASE WHEN NOT pg_is_in_recovery() THEN -1 "
			    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
			    "ELSE COALESCE(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), -1) END",
			    NULL);
	if (r == NULL)
		return;
	ls->answering = true;
	ls->in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
	ls->wal_lsn = pg_value_lsn(r, 0, 1);
	ls->received_lsn = pg_value_lsn(r, 0, 2);
	ls->replayed_lsn = pg_value_lsn(r, 0, 3);
	ls->timeline = atol(PQgetvalue(r, 0, 4));
	ls->receiver_active = atol(PQgetvalue(r, 0, 5)) > 0;
	ls->receiver_streaming = atol(PQgetvalue(r, 0, 7)) > 0;
	if (!PQgetisnull(r, 0, 6) && atol(PQgetvalue(r, 0, 6)) > ls->timeline)
		ls->timeline = atol(PQgetvalue(r, 0, 6));
	ls->postmaster_start = atof(PQgetvalue(r, 0, 8));
	ls->replay_lag_s = PQgetisnull(r, 0, 9) ? -1 : atof(PQgetvalue(r, 0, 9));
	PQclear(r);
	identity_probe(pg, ls);
	slow_probe(pg, ls);
}

int postgres_apply(postgres *pg, const pg_runtime *rt, fl_err *err)
{
	if (write_conf(pg, rt, err) < 0)
		return -1;
	PGresult *r = query(pg, "SELECT pg_reload_conf()", err);
	if (r == NULL)
		return -1;
	PQclear(r);
	/* The reload is the postmaster's to do: what it leaves pending shows half a second from now. */
	pg->slow_read_at = clock_mono() - SLOW_READ_EVERY + 0.5;
	return 0;
}

void postgres_set_deadline(postgres *pg, double deadline)
{
	pg->deadline = deadline > 0 ? deadline : 0;
	pg_session_set_deadline(pg->session, pg->deadline);
}

/* A wait of at most timeout seconds from now that ends by the deadline; fails with what ended it. */
static int wait_over(const postgres *pg, double start, double timeout, const char *what, fl_err *err)
{
	if (clock_mono() <= pg_wait_until(start, pg->deadline, timeout))
		return 0;
	if (pg_wait_cut(start, pg->deadline, timeout))
		return fl_fail(err, FL_ERR_TIMEOUT, "%s did not finish by the fencing deadline (%.2f s)", what,
			       clock_mono() - start);
	return fl_fail(err, FL_ERR_TIMEOUT, "%s did not finish within %.1f s", what, timeout);
}

int postgres_stop_receiving(postgres *pg, double timeout, fl_err *err)
{
	pg_runtime rt = pg->rt;
	rt.upstream[0] = '\0';
	rt.upstream_address[0] = '\0';
	if (postgres_apply(pg, &rt, err) < 0)
		return -1;
	double start = clock_mono();
	for (;;) {
		PGresult *r = query(pg, "SELECT count(*) FROM pg_stat_wal_receiver WHERE pid IS NOT NULL", err);
		if (r == NULL)
			return -1;
		bool active = atol(PQgetvalue(r, 0, 0)) > 0;
		PQclear(r);
		if (!active)
			return 0;
		if (wait_over(pg, start, timeout, "stopping the walreceiver", err) < 0)
			return -1;
		clock_sleep(0.02);
	}
}

void postgres_promoting(postgres *pg) { pg->may_write = true; }

pid_t postgres_writable_pid(const postgres *pg) { return pg->pid > 0 && pg->may_write ? pg->pid : 0; }

pid_t postgres_pid(const postgres *pg) { return pg->pid; }

int postgres_promote(postgres *pg, fl_err *err)
{
	/* pg_promote(true) looks for the end of recovery ten times a second; we look every 10 ms. */
	PGresult *r = query(pg, "SELECT pg_promote(false)", err);
	if (r == NULL)
		return -1;
	bool sent = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (!sent)
		return fl_fail(err, FL_ERR_POSTGRES, "pg_promote could not signal the promotion");
	double start = clock_mono();
	for (;;) {
		r = query(pg, "SELECT pg_is_in_recovery()", err);
		if (r == NULL)
			return -1;
		bool recovering = PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
		if (!recovering)
			return 0;
		if (wait_over(pg, start, PG_PROMOTE_TIMEOUT, "the promotion", err) < 0)
			return -1;
		clock_sleep(0.01);
	}
}

int postgres_checkpoint(postgres *pg, fl_err *err)
{
	PGresult *r = query(pg, "CHECKPOINT", err);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* "SELECT fn(<name as an escaped literal>...)": slot names come from member names, which come from etcd. */
static PGresult *slot_call(postgres *pg, const char *fn, const char *slot, const char *more, fl_err *err)
{
	PGconn *c = pg_session_conn(pg->session);
	char *lit = c ? PQescapeLiteral(c, slot, strlen(slot)) : NULL;
	if (lit == NULL) {
		fl_fail(err, FL_ERR_POSTGRES, "cannot quote the slot name \"%.64s\"", slot);
		return NULL;
	}
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT %s(%s%s)", fn, lit, more);
	PQfreemem(lit);
	return query(pg, sql, err);
}

int postgres_sync_slots(postgres *pg, const name_set *names, slot_state *out, int max, int *n_out, fl_err *err)
{
	*n_out = 0;
	PGresult *r = query(pg,
			    "SELECT slot_name, active, "
			    "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, "
			    "COALESCE(wal_status, '') FROM pg_replication_slots WHERE slot_type = 'physical'",
			    err);
	if (r == NULL)
		return -1;
	name_set have = {0};
	for (int i = 0; i < PQntuples(r); i++) {
		const char *slot = PQgetvalue(r, i, 0);
		bool active = PQgetvalue(r, i, 1)[0] == 't';
		name_set_add(&have, slot);
		if (name_set_has(names, slot) && *n_out < max) {
			slot_state *s = &out[(*n_out)++];
			snprintf(s->name, sizeof s->name, "%s", slot);
			s->active = active;
			long long kept = atoll(PQgetvalue(r, i, 2));
			s->retained_bytes = kept > 0 ? (uint64_t)kept : 0;
			const char *ws = PQgetvalue(r, i, 3);
			s->wal_lost = strcmp(ws, "unreserved") == 0 || strcmp(ws, "lost") == 0;
		}
		if (name_set_has(names, slot) || active)
			continue;
		PQclear(slot_call(pg, "pg_drop_replication_slot", slot, "", NULL));
		log_info("dropped replication slot %s of a departed member", slot);
	}
	PQclear(r);
	for (int i = 0; i < names->n; i++) {
		if (name_set_has(&have, names->v[i]))
			continue;
		PGresult *c = slot_call(pg, "pg_create_physical_replication_slot", names->v[i], ", true", err);
		if (c == NULL)
			return -1;
		PQclear(c);
		log_info("created replication slot %s", names->v[i]);
	}
	return 0;
}

int postgres_replicas(postgres *pg, pg_replica *out, int max, fl_err *err)
{
	PGresult *r = query(
		pg, "SELECT application_name, state, flush_lsn FROM pg_stat_replication WHERE application_name <> ''",
		err);
	if (r == NULL)
		return -1;
	int n = 0;
	for (int i = 0; i < PQntuples(r) && n < max; i++) {
		snprintf(out[n].name, sizeof out[n].name, "%s", PQgetvalue(r, i, 0));
		out[n].streaming = strcmp(PQgetvalue(r, i, 1), "streaming") == 0;
		out[n].flush_lsn = pg_value_lsn(r, i, 2);
		n++;
	}
	PQclear(r);
	return n;
}
