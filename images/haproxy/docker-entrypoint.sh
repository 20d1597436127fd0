#!/usr/bin/env bash
# The HAProxy image's entrypoint, a library of functions in the
# docker-library style (source it to use one; run it to start): it checks
# the environment and fails fast with one clear line, renders HAProxy's
# configuration for the members in FLOTILLA_HAPROXY_SERVERS with `flotilla
# haproxy-config` (the template `flotilla local` uses), starts HAProxy,
# then flotilla-proxy-agent once the Runtime API socket exists, and stays
# with them: when either ends the other is stopped and the container exits
# with its status, so the restart policy brings both back together.
set -Eeuo pipefail

FLOTILLA_SECRETS_DIR=${FLOTILLA_SECRETS_DIR:-/run/haproxy/secrets}
FLOTILLA_HAPROXY_DIR=${FLOTILLA_HAPROXY_DIR:-/run/haproxy}
FLOTILLA_COMPONENT=entrypoint
# shellcheck source=../common/entrypoint-lib.sh
. "${FLOTILLA_ENTRYPOINT_LIB:-/usr/local/lib/flotilla/entrypoint-lib.sh}"

_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = '_is_sourced' ] && [ "${FUNCNAME[1]}" = 'source' ]
}

# The proxy agent's settings that suit this image: HAProxy's socket and state file in FLOTILLA_HAPROXY_DIR.
haproxy_setup_env() {
	export FLOTILLA_PROXY_NAME=${FLOTILLA_PROXY_NAME:-$(hostname | tr 'A-Z.' 'a-z_' | cut -c1-63)}
	export FLOTILLA_NAME=$FLOTILLA_PROXY_NAME
	export FLOTILLA_HAPROXY_SOCKETS=${FLOTILLA_HAPROXY_SOCKETS:-$FLOTILLA_HAPROXY_DIR/admin.sock}
	export FLOTILLA_HAPROXY_STATE_FILES=${FLOTILLA_HAPROXY_STATE_FILES:-$FLOTILLA_HAPROXY_DIR/server-state}
	export FLOTILLA_AGENT_CHECK_LISTEN=${FLOTILLA_AGENT_CHECK_LISTEN:-127.0.0.1:5480}
	# The proxy agent's /metrics, for Prometheus on the cluster network (nothing publishes it on the host).
	export FLOTILLA_PROXY_METRICS_LISTEN=${FLOTILLA_PROXY_METRICS_LISTEN:-0.0.0.0:5481}
	file_env FLOTILLA_ETCD_PASSWORD
}

haproxy_verify_minimum_env() {
	[ -n "${FLOTILLA_SCOPE:-}" ] || flotilla_fail "FLOTILLA_SCOPE is missing: the cluster's name, as its members have it"
	[ -n "${FLOTILLA_ETCD_ENDPOINTS:-}" ] ||
		flotilla_fail "FLOTILLA_ETCD_ENDPOINTS is missing: the etcd client URLs, e.g. http://etcd1:2379"
	[ -n "${FLOTILLA_HAPROXY_SERVERS:-}" ] ||
		flotilla_fail "FLOTILLA_HAPROXY_SERVERS is missing: the members, e.g. \"db1 db2 db3\" (see flotilla haproxy-config --help)"
	flotilla_check_secret FLOTILLA_ETCD_PASSWORD_FILE "the etcd password"
}

# HAProxy's configuration, rendered again at every start (members come from the environment).
haproxy_render_config() {
	local servers
	# Members are separated by spaces, commas or newlines.
	local list=${FLOTILLA_HAPROXY_SERVERS//[,$'\n']/ }
	read -r -a servers <<< "$list"
	local args=(--dns --stats-socket "$FLOTILLA_HAPROXY_DIR/admin.sock"
		--state-file "$FLOTILLA_HAPROXY_DIR/server-state" --agent "$FLOTILLA_AGENT_CHECK_LISTEN"
		--output "$FLOTILLA_HAPROXY_DIR/haproxy.cfg")
	[ -z "${FLOTILLA_HAPROXY_MAX_LAG:-}" ] || args+=(--max-lag "$FLOTILLA_HAPROXY_MAX_LAG")
	[ -z "${FLOTILLA_HAPROXY_MAXCONN:-}" ] || args+=(--maxconn "$FLOTILLA_HAPROXY_MAXCONN")
	[ -z "${FLOTILLA_API_CA_FILE:-}" ] || args+=(--api-ca-file "$FLOTILLA_API_CA_FILE")
	local out
	out=$(flotilla haproxy-config "${args[@]}" "${servers[@]}" 2>&1) ||
		flotilla_fail "FLOTILLA_HAPROXY_SERVERS and friends: ${out#flotilla: }"
	flotilla_log INFO "haproxy configuration for ${servers[*]} in $FLOTILLA_HAPROXY_DIR/haproxy.cfg"
}

# Stops both and exits with the first one's status.
haproxy_supervise() {
	local haproxy_pid='' agent_pid='' status=0 stopping=''
	# From the first child on, a stop (docker stop: SIGTERM to this shell, PID 1's child) reaches both.
	trap 'stopping=1; kill -TERM $haproxy_pid $agent_pid 2>/dev/null || true' TERM INT
	haproxy -db -f "$FLOTILLA_HAPROXY_DIR/haproxy.cfg" &
	haproxy_pid=$!
	local waited=0
	while [ ! -S "$FLOTILLA_HAPROXY_DIR/admin.sock" ]; do
		[ -z "$stopping" ] || exit 143
		kill -0 "$haproxy_pid" 2>/dev/null || {
			wait "$haproxy_pid" || status=$?
			flotilla_log ERROR "haproxy ended at start (status $status)"
			[ "$status" -ne 0 ] || status=1
			exit "$status"
		}
		[ "$waited" -lt 200 ] || flotilla_fail "haproxy made no Runtime API socket in 10 s"
		sleep 0.05
		waited=$((waited + 1))
	done
	flotilla-proxy-agent &
	agent_pid=$!
	flotilla_log INFO "haproxy pid $haproxy_pid and flotilla-proxy-agent pid $agent_pid started"
	wait -n "$haproxy_pid" "$agent_pid" || status=$?
	if [ -n "$stopping" ]; then
		flotilla_log INFO "stopping haproxy and flotilla-proxy-agent"
	else
		local which=haproxy
		kill -0 "$haproxy_pid" 2>/dev/null && which=flotilla-proxy-agent
		flotilla_log ERROR "$which ended (status $status): stopping the other, so that both start again"
		[ "$status" -ne 0 ] || status=1
	fi
	kill -TERM "$haproxy_pid" "$agent_pid" 2>/dev/null || true
	wait "$haproxy_pid" "$agent_pid" 2>/dev/null || true
	exit "$status"
}

_main() {
	if [ "${1:-}" = 'haproxy' ] && [ "$#" -eq 1 ]; then
		if [ "$(id -u)" = '0' ]; then
			flotilla_fail "running as root; the image runs as user haproxy (uid 980): drop --user 0"
		fi
		haproxy_setup_env
		haproxy_verify_minimum_env
		[ -w "$FLOTILLA_HAPROXY_DIR" ] ||
			flotilla_fail "cannot write $FLOTILLA_HAPROXY_DIR: mount it writable by uid $(id -u) (a tmpfs)"
		haproxy_render_config
		haproxy_supervise
	fi
	exec "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
