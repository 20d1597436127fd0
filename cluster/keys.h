/*
 * keys: the layout of a cluster in etcd, in one table. Every key a Flotilla
 * program reads or writes lives under "<prefix>/<scope>/" and is declared
 * here once, with its lease, its writer and its content; the daemons and the
 * CLI build and recognise keys only through this module, and
 * docs/replicator.md shows the table keys_print_markdown renders.
 */
#ifndef FL_CLUSTER_KEYS_H
#define FL_CLUSTER_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cluster_key {
	KEY_INITIALIZE,
	KEY_LEADER,
	KEY_MEMBER, /* members/<name> */
	KEY_STATUS,
	KEY_SYNC,
	KEY_HISTORY,
	KEY_PAUSE,
	KEY_SWITCHOVER,
	KEY_DRAIN,  /* drain/<name> */
	KEY_PROXY,  /* proxies/<name> */
	KEY_BACKUP, /* backups/<label> */
	KEY_CONFIG,
	KEY__COUNT
} cluster_key;

typedef struct key_def {
	const char *name;  /* "leader", or the folder of a key per item ("members/") */
	bool per_item;     /* the key is name + an item (a member, a proxy, a backup) */
	const char *lease; /* whose lease the key is bound to */
	const char *writer;
	const char *content;
} key_def;

extern const key_def keys_table[KEY__COUNT];

/* "<prefix>/<scope>/" into buf; -1 when it does not fit. */
int keys_root(const char *prefix, const char *scope, char *buf, size_t len);
/* The full key of k under root (item for a per-item key, ignored otherwise); -1 when it does not fit. */
int keys_path(const char *root, cluster_key k, const char *item, char *buf, size_t len);
/* The folder of a per-item key under root ("<root>members/"), to list them all; -1 when it does not fit. */
int keys_folder(const char *root, cluster_key k, char *buf, size_t len);
/*
 * Which key a full key is: KEY__COUNT when it is outside root or not in the
 * table (a newer program's key). For a per-item key *item points at the item
 * (never empty: "members/" alone is not a key).
 */
cluster_key keys_match(const char *root, const char *key, const char **item);
/* The table as markdown, as docs/replicator.md shows it. */
void keys_print_markdown(FILE *f);

#endif
