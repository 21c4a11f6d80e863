#!/bin/sh
# Installs Debian packages: the ones named as arguments (the static build, the
# fuzzers and the init bench pass their own lists), or by default those the
# build, the tests and the demo need. Idempotent and quiet when everything is
# already there, so that every make target can call it on every run.
set -eu

DEFAULT_PKGS="gcc make pkg-config libpq-dev libcjson-dev libcmocka-dev
      postgresql postgresql-contrib python3 python3-flask-migrate python3-psycopg2 alembic python3-alembic
      python3-pytest python3-yaml gunicorn openssl util-linux procps iproute2
      valgrind strace time pgbouncer"
PKGS=${*:-$DEFAULT_PKGS}

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
