# The functions every Flotilla image's entrypoint shares (sourced, in the
# docker-library style): one log line an event, a failure that says what is
# wrong in one line and exits 3, and the *_FILE convention for secrets.
# The sourcing script sets FLOTILLA_SECRETS_DIR (where a secret given as a
# value is moved) and FLOTILLA_COMPONENT (the component its lines name).

# One event a line, as the daemons log: time, level, component.
flotilla_log() {
	local level=$1
	shift
	printf '%s %s %s node=%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$level" \
		"${FLOTILLA_COMPONENT:-entrypoint}" "${FLOTILLA_NAME:-$(hostname)}" "$*" >&2
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
	local file_var="${var}_FILE" given=$1
	if [ -n "$alias" ]; then
		local alias_file="${alias}_FILE"
		if [ -n "${!alias:-}" ] && [ -n "${!alias_file:-}" ]; then
			flotilla_fail "both $alias and $alias_file are set (but are exclusive)"
		fi
		if [ -n "${!alias:-}" ] && [ -n "${!var:-}" ]; then
			flotilla_fail "both $alias and $var are set; give one"
		fi
		if [ -n "${!alias:-}" ]; then
			export "$var"="${!alias}"
			given=$alias
		fi
		if [ -n "${!alias+x}" ]; then unset "$alias"; fi
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
		flotilla_log WARN "$given was given as a value; it is in docker inspect: prefer ${given}_FILE (a Docker secret)"
	fi
	if [ -n "${!var+x}" ]; then unset "$var"; fi
}

# usage: flotilla_file_only VAR WHAT
# For an image that takes secrets as files alone: VAR set (to anything, even
# empty) is refused with one line, since a value given so shows in docker
# inspect and in the environment of every process; VAR_FILE names the file.
flotilla_file_only() {
	local var=$1 what=$2
	if [ -n "${!var+x}" ]; then
		flotilla_fail "$var is set, but $what is read from a file only (a value shows in docker inspect):" \
			"set ${var}_FILE to a file holding it (a Docker secret)"
	fi
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
