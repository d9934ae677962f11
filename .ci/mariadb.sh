# Sourced by .ci/run: makes sure a MariaDB server answers on 127.0.0.1:3306,
# creates the database `mfa_test` and a user `mfa_test` with a fresh random
# password that may use it (and the per-test databases `mfa_test_*` the suites
# create and drop) over TCP, and exports MFA_TEST_MYSQL_URL for the MySQL test
# suites.
#
#   1. a server already answering is used as it is;
#   2. otherwise an installed server is started (`service mariadb start`);
#   3. otherwise MariaDB is installed from the distribution's packages
#      (apt-get) and started.
#
# The script administers the server as root over the unix socket (MariaDB's
# default `unix_socket` authentication for root). Anything that goes wrong
# stops CI with a message: the MySQL suites fail rather than skip when CI is set.

_my_host=127.0.0.1
_my_port=3306
_my_user=mfa_test
_my_db=mfa_test

_my_fail() {
    printf 'mariadb.sh: %s\n' "$*" >&2
    exit 1
}

_my_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# The client is `mariadb` on current releases, `mysql` on older ones.
_my_client() {
    if command -v mariadb >/dev/null 2>&1; then echo mariadb; else echo mysql; fi
}

# Runs SQL as root over the unix socket.
_my_sql() {
    _my_root "$(_my_client)" --protocol=socket -uroot -N -B -e "$1"
}

_my_answers() {
    _my_sql 'SELECT 1' >/dev/null 2>&1
}

_my_port_open() {
    (exec 3<>"/dev/tcp/${_my_host}/${_my_port}") 2>/dev/null
}

_my_installed() {
    command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 ||
        [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]
}

_my_wait() {
    local i
    for i in $(seq 1 60); do
        _my_answers && _my_port_open && return 0
        sleep 1
    done
    _my_fail "MariaDB is not accepting connections (socket and ${_my_host}:${_my_port}) after 60 s"
}

if ! _my_answers; then
    if ! _my_installed; then
        echo "mariadb.sh: MariaDB is not installed; installing mariadb-server with apt-get"
        _my_root env DEBIAN_FRONTEND=noninteractive \
            sh -c 'apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null' ||
            _my_fail "could not install mariadb-server with apt-get"
    fi
    echo "mariadb.sh: starting MariaDB"
    # The init script may report failure when a server is already starting;
    # whether it answers is what counts.
    _my_root service mariadb start >/dev/null 2>&1 || true
    _my_wait
fi
_my_port_open || _my_fail "MariaDB answers on its socket but not on ${_my_host}:${_my_port}"

# A fresh password each run; per-test databases left by runs older than a day
# are dropped (their names are mfa_test_<unix seconds>_<random>).
_my_pass="$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
_my_now=$(date +%s)
for _my_old in $(_my_sql "SELECT schema_name FROM information_schema.schemata
                         WHERE schema_name REGEXP '^mfa_test_[0-9]+_[0-9a-f]+\$'"); do
    _my_stamp=${_my_old#mfa_test_}
    _my_stamp=${_my_stamp%%_*}
    if [ "$_my_stamp" -lt $((_my_now - 86400)) ]; then
        _my_sql "DROP DATABASE IF EXISTS \`${_my_old}\`" ||
            echo "mariadb.sh: could not drop the old test database ${_my_old}" >&2
    fi
done
# Both host names: a connection from 127.0.0.1 may be matched as localhost.
_my_grants=""
for _my_from in 127.0.0.1 localhost; do
    _my_grants="${_my_grants}
        CREATE USER IF NOT EXISTS '${_my_user}'@'${_my_from}' IDENTIFIED BY '${_my_pass}';
        ALTER USER '${_my_user}'@'${_my_from}' IDENTIFIED BY '${_my_pass}';
        GRANT ALL PRIVILEGES ON \`mfa\\_test%\`.* TO '${_my_user}'@'${_my_from}';"
done
_my_sql "CREATE DATABASE IF NOT EXISTS \`${_my_db}\`; ${_my_grants} FLUSH PRIVILEGES;" ||
    _my_fail "could not create the database ${_my_db} and the user ${_my_user}"

export MFA_TEST_MYSQL_URL="mysql://${_my_user}:${_my_pass}@${_my_host}:${_my_port}/${_my_db}"
"$(_my_client)" --protocol=tcp -h "$_my_host" -P "$_my_port" -u "$_my_user" -p"$_my_pass" \
    -N -B -e 'SELECT 1' "$_my_db" >/dev/null 2>&1 ||
    _my_fail "the user ${_my_user} cannot log in over TCP on ${_my_host}:${_my_port}"
echo "mariadb.sh: MFA_TEST_MYSQL_URL=mysql://${_my_user}:***@${_my_host}:${_my_port}/${_my_db}"
unset _my_pass _my_now _my_old _my_stamp _my_grants _my_from
