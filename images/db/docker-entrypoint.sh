#!/usr/bin/env bash
# The database image's entrypoint, a library of functions in the
# docker-library style (source it to use one; run it to start the agent):
# it checks the environment and fails fast with one clear line, turns every
# secret into a file the agent reads (the *_FILE form; a value given
# directly is moved into a file and taken out of the environment), derives
# shared_buffers and max_connections from the container's memory limit
# unless they are set, and execs flotilla-replicator, which bootstraps or
# clones PostgreSQL itself. Roles come from the cluster, never from here.
set -Eeuo pipefail

FLOTILLA_SECRETS_DIR=${FLOTILLA_SECRETS_DIR:-/run/flotilla/secrets}
FLOTILLA_RUN_CONF=${FLOTILLA_RUN_CONF:-/run/flotilla/flotilla.conf}
FLOTILLA_COMPONENT=entrypoint
# flotilla_log, flotilla_fail, file_env, flotilla_check_secret: shared by every image's entrypoint.
# shellcheck source=../common/entrypoint-lib.sh
. "${FLOTILLA_ENTRYPOINT_LIB:-/usr/local/lib/flotilla/entrypoint-lib.sh}"

# check to see if this file is being run or sourced from another script
_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = '_is_sourced' ] && [ "${FUNCNAME[1]}" = 'source' ]
}

# Defaults that suit a container: the container's name, listening on every interface.
docker_setup_env() {
	local me
	me=$(hostname)
	export FLOTILLA_NAME=${FLOTILLA_NAME:-$(printf '%s' "$me" | tr 'A-Z.' 'a-z_' | cut -c1-63)}
	export FLOTILLA_LISTEN=${FLOTILLA_LISTEN:-0.0.0.0:5432}
	export FLOTILLA_CONNECT_ADDRESS=${FLOTILLA_CONNECT_ADDRESS:-$me:5432}
	export FLOTILLA_API_LISTEN=${FLOTILLA_API_LISTEN:-0.0.0.0:8008}
	export FLOTILLA_API_CONNECT_ADDRESS=${FLOTILLA_API_CONNECT_ADDRESS:-$me:8008}
	if [ -n "${POSTGRES_USER:-}" ]; then
		export FLOTILLA_SUPERUSER=${FLOTILLA_SUPERUSER:-$POSTGRES_USER}
		unset POSTGRES_USER
	fi
	file_env FLOTILLA_SUPERUSER_PASSWORD POSTGRES_PASSWORD
	file_env FLOTILLA_REPLICATION_PASSWORD
	file_env FLOTILLA_API_TOKEN
	file_env FLOTILLA_ETCD_PASSWORD
	file_env FLOTILLA_BACKUP_TOKEN
	# /docker-entrypoint-initdb.d runs once, on the node that initialises the cluster (the agent decides which).
	if [ -z "${FLOTILLA_POST_INIT:-}" ] && [ -n "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null)" ]; then
		export FLOTILLA_POST_INIT=/usr/local/bin/flotilla-initdb-scripts
	fi
}

docker_verify_minimum_env() {
	[ -n "${FLOTILLA_SCOPE:-}" ] || flotilla_fail "FLOTILLA_SCOPE is missing: every member of a cluster names it"
	[ -n "${FLOTILLA_ETCD_ENDPOINTS:-}" ] ||
		flotilla_fail "FLOTILLA_ETCD_ENDPOINTS is missing: the etcd client URLs, e.g. http://etcd1:2379"
	flotilla_check_secret FLOTILLA_SUPERUSER_PASSWORD_FILE "the superuser password (POSTGRES_PASSWORD_FILE)" required
	flotilla_check_secret FLOTILLA_REPLICATION_PASSWORD_FILE "the replication password" required
	flotilla_check_secret FLOTILLA_API_TOKEN_FILE "the REST API token"
	flotilla_check_secret FLOTILLA_ETCD_PASSWORD_FILE "the etcd password"
	# WAL archiving to the backup sidecar (archive_command) needs its token.
	if [ -n "${FLOTILLA_BACKUP_URL:-}" ]; then
		flotilla_check_secret FLOTILLA_BACKUP_TOKEN_FILE "the backup sidecar's token (FLOTILLA_BACKUP_URL is set)" required
	fi
	# A new cluster from a backup repository: the volume mounted, the passphrase of an encrypted one in a file.
	if [ -n "${FLOTILLA_RESTORE_REPO:-}" ]; then
		[ -r "$FLOTILLA_RESTORE_REPO/backups" ] ||
			flotilla_fail "FLOTILLA_RESTORE_REPO = $FLOTILLA_RESTORE_REPO is not a Flotilla backup repository" \
				"(no readable backups/): mount the repository's volume there"
		flotilla_file_only FLOTILLA_RESTORE_KEY "the repository's passphrase"
		flotilla_check_secret FLOTILLA_RESTORE_KEY_FILE "the repository's passphrase"
	fi
}

# The container's memory limit in bytes (cgroup v2, then v1), or nothing when it has none.
flotilla_memory_limit() {
	local limit=
	if [ -r /sys/fs/cgroup/memory.max ]; then
		limit=$(cat /sys/fs/cgroup/memory.max)
	elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
		limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
	fi
	case "$limit" in
	'' | max) return 0 ;;
	esac
	# v1 reports "no limit" as a huge number.
	[ "$limit" -lt $((1 << 50)) ] && printf '%s\n' "$limit"
}

# shared_buffers a quarter of the limit (16 MB to 8 GB), max_connections one per 8 MB of the rest
# (20 to 500), unless FLOTILLA_SHARED_BUFFERS / FLOTILLA_MAX_CONNECTIONS say otherwise; written as
# postgresql.parameters of the agent's file, whose settings the environment still overrides.
flotilla_memory_settings() {
	local limit shared='' conns=''
	limit=$(flotilla_memory_limit || true)
	if [ -n "$limit" ]; then
		shared=$((limit / 4 / 1048576))
		[ "$shared" -ge 16 ] || shared=16
		[ "$shared" -le 8192 ] || shared=8192
		conns=$(((limit / 1048576 - shared) / 8))
		[ "$conns" -ge 20 ] || conns=20
		[ "$conns" -le 500 ] || conns=500
	fi
	shared=${FLOTILLA_SHARED_BUFFERS:-${shared:+${shared}MB}}
	conns=${FLOTILLA_MAX_CONNECTIONS:-$conns}
	local params=()
	[ -z "$shared" ] || params+=("\"shared_buffers=$shared\"")
	[ -z "$conns" ] || params+=("\"max_connections=$conns\"")
	mkdir -p "$(dirname "$FLOTILLA_RUN_CONF")" 2>/dev/null && touch "$FLOTILLA_RUN_CONF" 2>/dev/null ||
		flotilla_fail "cannot write $FLOTILLA_RUN_CONF: mount $(dirname "$FLOTILLA_RUN_CONF") writable by uid $(id -u) (a tmpfs)"
	{
		echo "# Written by the image's entrypoint from the container's memory limit (${limit:-none})."
		local IFS=,
		echo "postgresql = { parameters = [ ${params[*]} ]; };"
	} > "$FLOTILLA_RUN_CONF"
	flotilla_log INFO "memory limit ${limit:-none}: shared_buffers ${shared:-default}, max_connections ${conns:-default}"
}

_main() {
	if [ "${1:-}" = 'flotilla-replicator' ]; then
		if [ "$(id -u)" = '0' ]; then
			flotilla_fail "running as root; the image runs as user postgres (uid 999): drop --user 0"
		fi
		docker_setup_env
		docker_verify_minimum_env
		flotilla_memory_settings
		# The agent's socket and passfiles: private to it (it refuses a state_dir others can read).
		mkdir -p "$FLOTILLA_STATE_DIR"
		chmod 700 "$FLOTILLA_STATE_DIR"
		shift
		flotilla_log INFO "starting flotilla-replicator as $FLOTILLA_NAME in cluster $FLOTILLA_SCOPE"
		exec flotilla-replicator --config "$FLOTILLA_RUN_CONF" "$@"
	fi
	exec "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
