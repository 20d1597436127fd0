/*
 * decide: the replication agent's state machine as one pure function. Given
 * what PostgreSQL looks like locally, what the agent remembers, what etcd
 * says and the time, it returns the one action the agent takes now. It reads
 * no clock and touches no socket; node.c gathers the inputs and carries out
 * the action. Every transition has a row in tests/replicator/test_decide.c.
 *
 * Safety rules it encodes:
 *  - A leader whose lease was last renewed more than ttl - fence_margin
 *    seconds ago stops PostgreSQL at once, before etcd can expire the lease.
 *  - When the leader key disappears, every replica first stops receiving WAL
 *    and publishes the position it holds (fenced for the lost term); a
 *    candidate promotes only after every member whose data may hold an
 *    acknowledged commit has done so (in synchronous mode: the whole
 *    published synchronous set of that term), and only if it is the most
 *    advanced of them.
 *  - A node never takes the leader key while another node holds it; one
 *    that finds another leader demotes and rejoins.
 *  - A planned switchover moves tick by tick: the leader stops cleanly
 *    (ACT_SWITCHOVER), keeps its key and lease while it waits for the
 *    candidate's record to show the shutdown checkpoint received, then
 *    releases the key to it (ACT_RELEASE_LEADER), or starts again as the
 *    leader when the candidate does not confirm in time.
 *  - While the cluster is paused (maintenance), a PostgreSQL that stopped
 *    without the agent stays stopped, and an empty data directory stays
 *    empty: the leader keeps its key, and nothing is started, rewound,
 *    initialised or cloned until resume, unless the agent stopped it itself
 *    or was asked to (POST /restart, /reinit).
 */
#ifndef FL_DECIDE_H
#define FL_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "slots.h"

typedef enum action {
	ACT_NONE,             /* nothing to do this tick */
	ACT_TAKE_INIT,        /* race for the initialize key */
	ACT_INITDB,           /* won the race: initdb, start, create roles, take the leader key */
	ACT_CLONE,            /* pg_basebackup from the leader (target) */
	ACT_START_PRIMARY,    /* holds the leader key, PostgreSQL down: start it as primary */
	ACT_START_REPLICA,    /* start as a standby following target ("" = no upstream yet) */
	ACT_FOLLOW,           /* re-point primary_conninfo to target and reload */
	ACT_LEAD,             /* leader housekeeping: status, slots, synchronous set */
	ACT_FENCE,            /* lost or stale leadership: stop PostgreSQL immediately */
	ACT_DEMOTE,           /* running primary while another node leads: stop, then rejoin */
	ACT_STOP_RECEIVING,   /* election: stop the walreceiver and publish the position */
	ACT_TAKE_LEADER,      /* election won: take the leader key, then promote */
	ACT_PROMOTE,          /* holds the key but still a standby: promote */
	ACT_REWIND,           /* former primary: pg_rewind from target, then start as replica */
	ACT_RECLONE,          /* data unusable: remove it and clone from target */
	ACT_GIVE_UP,          /* leader's postmaster keeps crashing: release the leader key */
	ACT_SWITCHOVER,       /* leader: hand the leader key to target ("" = best replica) after a clean stop */
	ACT_CLEAR_SWITCHOVER, /* leader: drop a switchover record that names another leader */
	ACT_RELEASE_LEADER,   /* switchover: the candidate (target) holds the last WAL: release the leader key to it */
	ACT_ABANDON_SWITCHOVER, /* switchover: the candidate did not confirm in time (or the record is gone): stay leader */
	ACT__COUNT
} action;

typedef struct local_state {
	bool data_valid; /* the data directory holds a cluster */
	bool running;    /* our postmaster child is alive */
	bool answering;  /* it accepts connections */
	bool in_recovery;
	bool was_primary;   /* control file says it last ran as a primary */
	bool rewind_failed; /* pg_rewind from the current leader failed */
	long timeline;
	uint64_t wal_lsn;
	uint64_t received_lsn;
	uint64_t replayed_lsn;
	bool receiver_active;    /* a walreceiver process exists */
	bool receiver_streaming; /* the walreceiver's status is streaming */
	bool receiver_stuck;     /* following an upstream without streaming for too long */
	double postmaster_start; /* unix time the postmaster started, 0 when unknown */
	double replay_lag_s; /* replica: seconds its replay is behind (0 when it replayed all it received), -1 unknown */
	uint64_t pg_wal_bytes;             /* what pg_wal holds */
	uint64_t archive_ready;            /* segments waiting for archive_command (.ready) */
	uint64_t archived, archive_failed; /* pg_stat_archiver's counts */
	char upstream[CLUSTER_NAME_MAX];   /* node primary_conninfo points at, "" for none */
	int recent_crashes;                /* unexpected postmaster exits within restart_window */
	bool clean_handover;               /* stopped cleanly after handing over the leader key in a switchover */
	long server_version;               /* server_version_num, 0 when down */
	char system_id[24];                /* the cluster's system identifier, "" when down */
	bool pending_restart;              /* a changed setting waits for a restart (pg_settings.pending_restart) */
	pg_replication_row replication[CLUSTER_MAX_MEMBERS]; /* a primary's pg_stat_replication */
	int n_replication;
	bool stopped_by_agent; /* down (or emptied) by the agent itself or on request (POST /restart, /reinit):
				  * brought back even while paused, unlike a postmaster that stopped without it */
} local_state;

typedef struct agent_state {
	bool etcd_ok;            /* this tick's etcd reads succeeded */
	int64_t lease;           /* our lease, 0 when none */
	bool leader;             /* we believe we hold the leader key */
	double lease_renewed_at; /* monotonic time the last successful renewal was sent */
	long lease_ttl;          /* the ttl that lease was granted with (a reload may have changed cfg->ttl since) */
	int64_t fenced_term;     /* term we stopped receiving for, 0 when none */
	double election_since;   /* monotonic time the leader key was first seen missing, 0 when present */
	double wall_now;         /* unix time, for scheduled switchovers */
	/* A switchover under way: PostgreSQL stopped cleanly with its last checkpoint at handover_lsn. */
	uint64_t handover_lsn;              /* 0 when no switchover is under way */
	char handover_to[CLUSTER_NAME_MAX]; /* the candidate */
	double handover_since;              /* monotonic time of the clean stop */
	double switchover_seen; /* monotonic time this node first saw a due switchover, 0 when none is due */
} agent_state;

typedef struct decide_config {
	const char *name;
	long ttl;
	double fence_margin;  /* seconds before lease expiry at which a leader fences */
	double election_wait; /* async mode: how long to wait for silent members' positions */
	long maximum_lag;
	bool synchronous_mode;
	bool nofailover;
	bool cannot_lead; /* watchdog.mode required without a watchdog: never bootstraps nor takes the key */
	long priority;
	long max_restarts;
	double handover_timeout; /* seconds a switchover waits for a fit candidate, then for it to confirm the last WAL */
} decide_config;

typedef struct decision {
	action act;
	char target[CLUSTER_NAME_MAX];
	const char *reason; /* static text for the log */
} decision;

decision decide(const decide_config *cfg, const local_state *local, const agent_state *agent, const cluster_view *view,
		double now);

/* The monotonic time by which a leader must have fenced itself. */
double decide_fence_deadline(const decide_config *cfg, const agent_state *agent);
/* The ttl the deadlines count with: the lease's own and the configured one, the shorter (a reload moves cfg->ttl). */
long decide_lease_ttl(const decide_config *cfg, const agent_state *agent);
/*
 * Whether etcd's answer shows the leader key as ours: our name, under our
 * lease. A node that finds so while agent->leader is false (the reply to its
 * take was lost or late) leads from that answer on: it is fenced as a
 * leader, not promoted as a follower.
 */
bool decide_holds_key(const decide_config *cfg, const agent_state *agent, const cluster_view *view);

/*
 * The one ranking of candidates, for the election and the switchover alike:
 * true when a is the better one: more WAL (received or replayed), then more
 * replayed, then the higher priority, then the name.
 */
bool decide_better(const member *a, const member *b);
/*
 * The one lag rule: a position is fit when it lags behind the leader's last
 * known position (cluster_leader_position: its member record while it runs,
 * else the status record) by at most maximum_lag.
 */
bool decide_lag_ok(const decide_config *cfg, const cluster_view *view, uint64_t pos);
/*
 * The replica a switchover from this leader hands over to: wanted ("" for
 * any) when it is a streaming replica not tagged nofailover, else the best
 * such one (in synchronous mode, of the synchronous set), within the lag
 * rule; NULL when none, with why.
 */
const member *decide_switchover_candidate(const decide_config *cfg, const cluster_view *view, const char *wanted,
					  const char **why);

/* Whether a mutating request is admitted in the cluster's present state; why says why not. */
typedef enum admit {
	ADMIT_OK,
	ADMIT_REFUSED,  /* the request names the wrong thing (Patroni answers 412) */
	ADMIT_CONFLICT, /* the cluster's state forbids it now (409) */
} admit;
/* A named candidate of a switchover or failover: a member, not tagged nofailover. */
admit decide_admit_candidate(const cluster_view *view, const char *candidate, char *why, size_t len);
/* A manual failover to candidate: a member, eligible, not the leader, no healthy leader, in sync in synchronous mode. */
admit decide_admit_failover(bool synchronous_mode, const cluster_view *view, const char *candidate, char *why,
			    size_t len);
/* A re-initialisation of this node: never while it holds the leader key. */
admit decide_admit_reinit(bool leader, const char *name, char *why, size_t len);

const char *action_name(action a);

#endif
