/*
 * source: which member a base backup is read from. A backup loads its
 * source with reads, so it is taken from the streaming replica that lags
 * least (within max_lag of the leader), and from the leader only when no
 * replica is fit. Pure: decided on the view of the cluster from etcd.
 */
#ifndef FL_BACKUP_SOURCE_H
#define FL_BACKUP_SOURCE_H

#include <stdint.h>

#include "cluster/cluster.h"

/*
 * The member to take a backup from, into *out; -1 with why ("no member
 * runs", "the cluster has no leader and no streaming replica") when none
 * is fit. A replica is fit when it runs, streams from the leader and lags
 * at most max_lag bytes; a leader when it runs as a primary.
 */
int source_pick(const cluster_view *v, uint64_t max_lag, const member **out, const char **why);

#endif
