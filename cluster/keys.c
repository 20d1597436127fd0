/*
 * keys: the etcd key table and the functions that build and recognise keys.
 * The table is the layout's only definition; adding a record is adding a row.
 */
#include "keys.h"

#include <string.h>

/* clang-format off */
const key_def keys_table[KEY__COUNT] = {
	[KEY_INITIALIZE] = {"initialize", false, "none", "bootstrap race winner", "node name"},
	[KEY_LEADER] = {"leader", false, "leader's", "leader",
			"node name; its create revision is the leader's **term**"},
	[KEY_MEMBER] =
		{"members/", true, "member's", "each agent, every tick",
		 "role, state (and progress of a clone), timeline, WAL positions, `fenced_term`, tags, addresses"},
	[KEY_STATUS] = {"status", false, "none", "leader, every tick",
			"term, name, WAL position, timeline of the current leader"},
	[KEY_SYNC] = {"sync", false, "none", "leader (synchronous mode)",
		      "the synchronous set `P` published for a term"},
	[KEY_HISTORY] = {"history", false, "none", "each new leader", "timeline switches"},
	[KEY_PAUSE] = {"pause", false, "none", "`flotilla pause` (`POST /pause`)",
		       "present while automatic failover is paused"},
	[KEY_SWITCHOVER] =
		{"switchover", false, "none", "`flotilla switchover`, `failover` (`POST /switchover`, `/failover`)",
		 "leader (\"\" for a manual failover), candidate (\"\": the leader chooses), `scheduled_at`"},
	[KEY_DRAIN] = {"drain/", true, "none", "`flotilla drain` (removed by `flotilla ready`)",
		       "present while the node is out of the read-only pool"},
	[KEY_PROXY] = {"proxies/", true, "proxy agent's", "each proxy agent, after every reconcile",
		       "every HAProxy it steers: up or not, each server's state and sessions"},
	[KEY_BACKUP] = {"backups/", true, "none", "the backup sidecar",
			"one backup's catalogue entry (reserved for `flotilla-backup`)"},
	[KEY_CONFIG] = {"config", false, "none", "`flotilla edit-config` (`PATCH`, `PUT /config`)",
			"the dynamic configuration: ttl, loop_wait, retry_timeout, maximum_lag_on_failover, "
			"synchronous_mode, postgresql.parameters, postgresql.pg_hba"},
};
/* clang-format on */

static int fits(int n, size_t len) { return n >= 0 && (size_t)n < len ? 0 : -1; }

int keys_root(const char *prefix, const char *scope, char *buf, size_t len)
{
	return fits(snprintf(buf, len, "%s/%s/", prefix, scope), len);
}

int keys_path(const char *root, cluster_key k, const char *item, char *buf, size_t len)
{
	const key_def *d = &keys_table[k];
	return fits(snprintf(buf, len, "%s%s%s", root, d->name, d->per_item && item ? item : ""), len);
}

int keys_folder(const char *root, cluster_key k, char *buf, size_t len) { return keys_path(root, k, NULL, buf, len); }

cluster_key keys_match(const char *root, const char *key, const char **item)
{
	size_t rlen = strlen(root);
	if (item)
		*item = NULL;
	if (strncmp(key, root, rlen) != 0)
		return KEY__COUNT;
	const char *rest = key + rlen;
	for (int k = 0; k < KEY__COUNT; k++) {
		const key_def *d = &keys_table[k];
		size_t n = strlen(d->name);
		if (!d->per_item && strcmp(rest, d->name) == 0)
			return (cluster_key)k;
		if (d->per_item && strncmp(rest, d->name, n) == 0 && rest[n] != '\0') {
			if (item)
				*item = rest + n;
			return (cluster_key)k;
		}
	}
	return KEY__COUNT;
}

void keys_print_markdown(FILE *f)
{
	fprintf(f, "| key | lease | written by | content |\n|---|---|---|---|\n");
	for (int k = 0; k < KEY__COUNT; k++) {
		const key_def *d = &keys_table[k];
		fprintf(f, "| `%s%s` | %s | %s | %s |\n", d->name, d->per_item ? "<name>" : "", d->lease, d->writer,
			d->content);
	}
}
