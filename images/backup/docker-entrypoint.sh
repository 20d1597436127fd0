#!/usr/bin/env bash
# The backup image's entrypoint, a library of functions in the
# docker-library style (source it to use one; run it to start the
# sidecar): it checks the environment and fails fast with one clear line
# (exit 3), takes every secret as a file only (FLOTILLA_*_FILE; a value
# given in the environment is refused), checks that the repository is a
# directory this user can write, and execs flotilla-backup, which the
# environment alone configures (`flotilla-backup --config-doc` lists every
# variable). `flotilla-backup restore` and `flotilla-backup drill` run as
# given.
set -Eeuo pipefail

FLOTILLA_COMPONENT=entrypoint
FLOTILLA_NAME=${FLOTILLA_BACKUP_NAME:-backup}
# flotilla_log, flotilla_fail, flotilla_file_only, flotilla_check_secret: shared by every image's entrypoint.
# shellcheck source=../common/entrypoint-lib.sh
. "${FLOTILLA_ENTRYPOINT_LIB:-/usr/local/lib/flotilla/entrypoint-lib.sh}"

# check to see if this file is being run or sourced from another script
_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = '_is_sourced' ] && [ "${FUNCNAME[1]}" = 'source' ]
}

# Whether the arguments after flotilla-backup start the sidecar (not restore, drill, --help and the like).
backup_is_daemon() {
	case "${1:-}" in
	restore | drill) return 1 ;;
	esac
	local a
	for a in "$@"; do
		case "$a" in
		-h | --help | --version | --sample-config | --config-doc) return 1 ;;
		esac
	done
	return 0
}

# Defaults that suit a container: the image's repository volume, the API on every interface.
backup_setup_env() {
	export FLOTILLA_BACKUP_REPO=${FLOTILLA_BACKUP_REPO:-/var/lib/flotilla/backup}
	export FLOTILLA_BACKUP_API_LISTEN=${FLOTILLA_BACKUP_API_LISTEN:-0.0.0.0:8010}
	flotilla_file_only FLOTILLA_BACKUP_TOKEN "the API token"
	flotilla_file_only FLOTILLA_REPLICATION_PASSWORD "the replication password"
	flotilla_file_only FLOTILLA_ETCD_PASSWORD "the etcd password"
	flotilla_file_only FLOTILLA_BACKUP_ENCRYPTION_KEY "the repository's encryption passphrase"
}

backup_verify_minimum_env() {
	[ -n "${FLOTILLA_SCOPE:-}" ] || flotilla_fail "FLOTILLA_SCOPE is missing: the cluster's name, as its members have it"
	[ -n "${FLOTILLA_ETCD_ENDPOINTS:-}" ] ||
		flotilla_fail "FLOTILLA_ETCD_ENDPOINTS is missing: the etcd client URLs, e.g. http://etcd1:2379"
	flotilla_check_secret FLOTILLA_BACKUP_TOKEN_FILE "the API token" required
	flotilla_check_secret FLOTILLA_REPLICATION_PASSWORD_FILE "the replication password" required
	flotilla_check_secret FLOTILLA_ETCD_PASSWORD_FILE "the etcd password"
	flotilla_check_secret FLOTILLA_BACKUP_ENCRYPTION_KEY_FILE "the repository's encryption passphrase"
	if [ -n "${FLOTILLA_ETCD_KEY_FILE:-}" ] && [ ! -r "$FLOTILLA_ETCD_KEY_FILE" ]; then
		flotilla_fail "the etcd client key: FLOTILLA_ETCD_KEY_FILE = $FLOTILLA_ETCD_KEY_FILE cannot be read"
	fi
}

# The repository: a directory of its own (a volume), written by this user alone.
backup_check_repo() {
	local repo=$FLOTILLA_BACKUP_REPO
	[ -d "$repo" ] || flotilla_fail "FLOTILLA_BACKUP_REPO = $repo is not a directory: mount a volume there"
	[ -w "$repo" ] && [ -x "$repo" ] ||
		flotilla_fail "cannot write the repository $repo: mount a volume there writable by uid $(id -u) (owner $(stat -c %u "$repo"), mode $(stat -c %a "$repo"))"
}

_main() {
	if [ "${1:-}" = 'flotilla-backup' ] && backup_is_daemon "${@:2}"; then
		if [ "$(id -u)" = '0' ]; then
			flotilla_fail "running as root; the image runs as user postgres (uid 999): drop --user 0"
		fi
		backup_setup_env
		backup_verify_minimum_env
		backup_check_repo
		flotilla_log INFO "starting flotilla-backup for cluster $FLOTILLA_SCOPE: repository $FLOTILLA_BACKUP_REPO, api on $FLOTILLA_BACKUP_API_LISTEN"
		exec "$@"
	fi
	exec "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
