#!/bin/sh
# Installs the Debian packages `make fuzz` / `make fuzz-smoke` need on top of
# scripts/install-deps.sh: clang 14, its libFuzzer + sanitizer runtimes, and
# llvm-symbolizer for readable stacks. Idempotent and quiet when everything
# is already there.
set -eu

FUZZ_PKGS="clang-14 libclang-rt-14-dev llvm-14 make pkg-config libpq-dev libcjson-dev"

missing=""
for p in $FUZZ_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-fuzz-deps: missing packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "install-fuzz-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
