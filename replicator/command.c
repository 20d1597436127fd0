/*
 * command: records written for the cluster, requests kept for the node.
 */
#include "command.h"

#include <stdio.h>

#include "common/log.h"
#include "decide.h"

/* An etcd failure answers 503: the call may be repeated. */
static int unavailable(const fl_err *err, char *msg, size_t len)
{
	snprintf(msg, len, "%s", err->msg);
	return 503;
}

static int put_switchover(store *st, const api_command_req *req, const char *leader, char *msg, size_t len)
{
	fl_err err = {0};
	bool created = false;
	if (store_put_switchover(st, leader, req->candidate, leader[0] ? req->scheduled_at : 0, true, &created, &err) <
	    0)
		return unavailable(&err, msg, len);
	if (!created) {
		snprintf(msg, len, "another switchover or failover is already pending");
		return 409;
	}
	return 0;
}

int command_run(store *st, double retry_timeout, command_requests *rq, const char *name, const api_command_req *req,
		double wall_now, char *msg, size_t len)
{
	fl_err err = {0};
	int rc;
	store_set_timeout(st, retry_timeout);
	switch (req->cmd) {
	case API_CMD_PAUSE:
	case API_CMD_RESUME: {
		bool pause = req->cmd == API_CMD_PAUSE;
		if (store_set(st, KEY_PAUSE, pause ? "{}" : NULL, &err) < 0)
			return unavailable(&err, msg, len);
		snprintf(msg, len, "automatic failover %s", pause ? "paused" : "resumed");
		return 200;
	}
	case API_CMD_SWITCHOVER:
		if ((rc = put_switchover(st, req, req->leader, msg, len)) != 0)
			return rc;
		if (req->scheduled_at > wall_now)
			snprintf(msg, len, "switchover from %s scheduled", req->leader);
		else
			snprintf(msg, len, "switchover from %s to %s started", req->leader,
				 req->candidate[0] ? req->candidate : "the best replica");
		return 202;
	case API_CMD_FAILOVER:
		/* Admitted by the router (decide_admit_failover) on the view of the last tick. */
		if ((rc = put_switchover(st, req, "", msg, len)) != 0)
			return rc;
		snprintf(msg, len, "failover to %s started", req->candidate);
		return 202;
	case API_CMD_RESTART:
		rq->restart = true;
		snprintf(msg, len, "restart of %s started", name);
		return 202;
	case API_CMD_REINIT:
		rq->reinit = true;
		snprintf(msg, len, "re-initialisation of %s started", name);
		return 202;
	case API_CMD_CONFIG: /* node.c: it checks against this node's settings and PostgreSQL */
	case API_CMD_NONE:
		break;
	}
	snprintf(msg, len, "unknown command");
	return 400;
}

command_next command_take(command_requests *rq, bool leader, const char *name)
{
	command_next next = COMMAND_NONE;
	if (rq->restart) {
		log_info("restart requested: stopping postgres, the next tick starts it again");
		next = COMMAND_RESTART;
	}
	if (rq->reinit) {
		char why[256];
		if (decide_admit_reinit(leader, name, why, sizeof why) != ADMIT_OK) {
			log_warn("reinit refused: %s", why);
		} else {
			log_info("reinit requested: stopping postgres and removing the data directory; it is cloned "
				 "again");
			next = COMMAND_REINIT; /* a reinit covers a restart */
		}
	}
	rq->restart = rq->reinit = false;
	return next;
}
