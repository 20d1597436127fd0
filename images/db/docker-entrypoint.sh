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

# check to see if this file is being run or sourced from another script
_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = '_is_sourced' ] && [ "${FUNCNAME[1]}" = 'source' ]
}

# One event a line, as the daemons log: time, level, component.
flotilla_log() {
	local level=$1
	shift
	printf '%s %s entrypoint node=%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$level" \
		"${FLOTILLA_NAME:-$(hostname)}" "$*" >&2
}

flotilla_fail() {
	flotilla_log ERROR "$*"
	exit 3
}

# usage: file_env VAR [ALIAS]
# The secret VAR reaches the agent as the file VAR_FILE. VAR and VAR_FILE
# both set is an error; a value in VAR (or in ALIAS, the official image's
# name for it) is written to a private file and removed from the
# environment, so it shows in no process's environment after this.
file_env() {
	local var=$1 alias=${2:-}
	local file_var="${var}_FILE"
	if [ -n "$alias" ]; then
		if [ -n "${!alias:-}" ] && [ -n "${!var:-}" ]; then
			flotilla_fail "both $alias and $var are set; give one"
		fi
		if [ -n "${!alias:-}" ]; then
			export "$var"="${!alias}"
		fi
		if [ -n "${!alias+x}" ]; then unset "$alias"; fi
		local alias_file="${alias}_FILE"
		if [ -n "${!alias_file:-}" ] && [ -n "${!file_var:-}" ]; then
			flotilla_fail "both $alias_file and $file_var are set; give one"
		fi
		if [ -n "${!alias_file:-}" ]; then
			export "$file_var"="${!alias_file}"
			unset "$alias_file"
		fi
	fi
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		flotilla_fail "both $var and $file_var are set (but are exclusive)"
	fi
	if [ -n "${!var:-}" ]; then
		local path
		path="$FLOTILLA_SECRETS_DIR/$(printf '%s' "$var" | tr 'A-Z' 'a-z')"
		(umask 077 && mkdir -p "$FLOTILLA_SECRETS_DIR" && printf '%s\n' "${!var}" > "$path")
		export "$file_var"="$path"
		flotilla_log WARN "$var was given as a value; it is in docker inspect: prefer $file_var (a Docker secret)"
	fi
	if [ -n "${!var+x}" ]; then unset "$var"; fi
}

# usage: flotilla_check_secret VAR_FILE WHAT [required]
# The file must be readable and hold a password that is neither empty nor a well-known default.
flotilla_check_secret() {
	local file_var=$1 what=$2 required=${3:-}
	local path=${!file_var:-}
	if [ -z "$path" ]; then
		[ -z "$required" ] || flotilla_fail "$what is missing: set ${file_var} to a file holding it (a Docker secret)"
		return 0
	fi
	[ -r "$path" ] || flotilla_fail "$what: $file_var = $path cannot be read"
	local value
	value=$(head -c 4096 "$path" | tr -d '\r\n')
	case "$value" in
	'') flotilla_fail "$what: $path is empty" ;;
	postgres | password | changeme | secret | admin)
		flotilla_fail "$what: $path holds a well-known default password; choose another" ;;
	esac
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
}

docker_verify_minimum_env() {
	[ -n "${FLOTILLA_SCOPE:-}" ] || flotilla_fail "FLOTILLA_SCOPE is missing: every member of a cluster names it"
	[ -n "${FLOTILLA_ETCD_ENDPOINTS:-}" ] ||
		flotilla_fail "FLOTILLA_ETCD_ENDPOINTS is missing: the etcd client URLs, e.g. http://etcd1:2379"
	flotilla_check_secret FLOTILLA_SUPERUSER_PASSWORD_FILE "the superuser password (POSTGRES_PASSWORD_FILE)" required
	flotilla_check_secret FLOTILLA_REPLICATION_PASSWORD_FILE "the replication password" required
	flotilla_check_secret FLOTILLA_API_TOKEN_FILE "the REST API token"
	flotilla_check_secret FLOTILLA_ETCD_PASSWORD_FILE "the etcd password"
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
	local limit shared conns
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
