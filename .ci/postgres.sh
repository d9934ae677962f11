# Sourced by .ci/run: makes sure a PostgreSQL server answers on 127.0.0.1:5432
# with trust authentication for user `postgres`, creates a fresh test database
# and exports MFA_TEST_POSTGRES_URL for the PostgreSQL test suites.
#
#   1. a server already answering is used as it is;
#   2. otherwise an installed cluster is started (pg_ctlcluster);
#   3. otherwise PostgreSQL is installed from the distribution's packages
#      (apt-get) and started, and TCP trust authentication for `postgres` on
#      127.0.0.1 is enabled if the fresh cluster asks for a password.
#
# Anything that goes wrong stops CI with a message: the PostgreSQL suites fail
# rather than skip when CI is set.

# The port and cluster name can be changed to try this script on a scratch cluster.
_pg_host=127.0.0.1
_pg_port=${MFA_CI_PG_PORT:-5432}
_pg_cluster=${MFA_CI_PG_CLUSTER:-main}
_pg_admin_url="postgres://postgres@${_pg_host}:${_pg_port}/postgres"

_pg_fail() {
    printf 'postgres.sh: %s\n' "$*" >&2
    exit 1
}

_pg_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

_pg_answers() {
    command -v pg_isready >/dev/null 2>&1 &&
        pg_isready -q -h "$_pg_host" -p "$_pg_port" -U postgres -t 2
}

_pg_can_login() {
    psql "$_pg_admin_url" -w -qtAX -c 'SELECT 1' >/dev/null 2>&1
}

# The newest installed cluster version, or nothing.
_pg_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

_pg_start() {
    local version
    version=$(_pg_version)
    [ -n "$version" ] || _pg_fail "no PostgreSQL version under /etc/postgresql"
    if [ ! -d "/etc/postgresql/${version}/${_pg_cluster}" ]; then
        echo "postgres.sh: creating the PostgreSQL $version cluster ${_pg_cluster}"
        _pg_root pg_createcluster "$version" "$_pg_cluster" -p "$_pg_port" >/dev/null ||
            _pg_fail "pg_createcluster could not create cluster ${_pg_cluster}"
    fi
    if ! _pg_root pg_ctlcluster "$version" "$_pg_cluster" status >/dev/null 2>&1; then
        echo "postgres.sh: starting PostgreSQL $version (cluster ${_pg_cluster})"
        _pg_root pg_ctlcluster --skip-systemctl-redirect "$version" "$_pg_cluster" start ||
            _pg_root pg_ctlcluster "$version" "$_pg_cluster" start ||
            _pg_fail "pg_ctlcluster could not start PostgreSQL $version"
    fi
}

_pg_wait() {
    local i
    for i in $(seq 1 60); do
        _pg_answers && return 0
        sleep 1
    done
    _pg_fail "PostgreSQL is not accepting connections on ${_pg_host}:${_pg_port} after 60 s"
}

# A fresh cluster may use peer/scram for TCP: let `postgres` in from 127.0.0.1.
_pg_trust_local_tcp() {
    _pg_can_login && return 0
    local version hba
    version=$(_pg_version)
    hba="/etc/postgresql/${version}/${_pg_cluster}/pg_hba.conf"
    [ -f "$hba" ] || _pg_fail "cannot log in as postgres and there is no $hba to fix"
    echo "postgres.sh: enabling trust authentication for postgres on ${_pg_host} in $hba"
    _pg_root sed -i "1i host all postgres ${_pg_host}/32 trust" "$hba" ||
        _pg_fail "could not edit $hba"
    _pg_root pg_ctlcluster "$version" "$_pg_cluster" reload ||
        _pg_fail "could not reload PostgreSQL $version"
    sleep 1
    _pg_can_login || _pg_fail "still cannot log in as postgres on ${_pg_host}:${_pg_port}"
}

_pg_port_open() {
    (exec 3<>"/dev/tcp/${_pg_host}/${_pg_port}") 2>/dev/null
}

_pg_apt_install() {
    echo "postgres.sh: installing $* with apt-get"
    _pg_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        _pg_fail "apt-get update failed"
    _pg_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        _pg_fail "apt-get install $* failed"
}

if ! command -v psql >/dev/null 2>&1 && _pg_port_open; then
    # A server answers (a container, another host's tunnel) but the client
    # tools are missing.
    _pg_apt_install postgresql-client
fi
if ! _pg_answers; then
    if [ -z "$(_pg_version)" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "postgres.sh: PostgreSQL is not installed"
        _pg_apt_install postgresql
    fi
    _pg_start
    _pg_wait
fi
_pg_trust_local_tcp

# A fresh database per run; databases left by runs older than a day are dropped.
_pg_now=$(date +%s)
_pg_db="mfa_test_${_pg_now}_${RANDOM}${RANDOM}"
for _pg_old in $(psql "$_pg_admin_url" -w -qtAX -c \
    "SELECT datname FROM pg_database WHERE datname ~ '^mfa_test_[0-9]+_[0-9]+$'"); do
    _pg_stamp=${_pg_old#mfa_test_}
    _pg_stamp=${_pg_stamp%%_*}
    if [ "$_pg_stamp" -lt $((_pg_now - 86400)) ]; then
        psql "$_pg_admin_url" -w -qtAX -c "DROP DATABASE IF EXISTS \"${_pg_old}\"" >/dev/null ||
            echo "postgres.sh: could not drop the old test database ${_pg_old}" >&2
    fi
done
PGOPTIONS="-c client_min_messages=warning" psql "$_pg_admin_url" -w -v ON_ERROR_STOP=1 -qtAX \
    -c "DROP DATABASE IF EXISTS \"${_pg_db}\"" \
    -c "CREATE DATABASE \"${_pg_db}\"" ||
    _pg_fail "could not create the test database ${_pg_db}"

export MFA_TEST_POSTGRES_URL="postgres://postgres@${_pg_host}:${_pg_port}/${_pg_db}"
echo "postgres.sh: MFA_TEST_POSTGRES_URL=${MFA_TEST_POSTGRES_URL}"

# The restart test restarts the real server during traffic: it needs a
# command that does so, for the cluster this script manages.
_pg_version_now=$(_pg_version)
if [ -n "$_pg_version_now" ] && _pg_root pg_ctlcluster "$_pg_version_now" "$_pg_cluster" status >/dev/null 2>&1; then
    _pg_sudo=""
    [ "$(id -u)" = 0 ] || _pg_sudo="sudo -n "
    # Down for 6 s: longer than the stores' 5 s connection timeout, so that
    # requests during the restart get their 503 rather than just waiting.
    _pg_ctl="${_pg_sudo}pg_ctlcluster --skip-systemctl-redirect ${_pg_version_now} ${_pg_cluster}"
    export MFA_TEST_POSTGRES_RESTART="${_pg_ctl} stop && sleep 6 && ${_pg_ctl} start"
    echo "postgres.sh: MFA_TEST_POSTGRES_RESTART=${MFA_TEST_POSTGRES_RESTART}"
else
    _pg_fail "the server on ${_pg_host}:${_pg_port} is not a cluster pg_ctlcluster manages: the restart test cannot run"
fi
unset _pg_version_now _pg_sudo _pg_ctl
unset _pg_now _pg_db _pg_old _pg_stamp
