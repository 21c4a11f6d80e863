#!/bin/sh
# Builds the static musl dependencies of `make static` from Debian SOURCE
# packages: OpenSSL (libssl.a, libcrypto.a), libpq (libpq.a plus
# libpgcommon_shlib.a and libpgport_shlib.a) from postgresql-15, and cJSON
# (libcjson.a). Everything lives under build/deps; nothing system-wide changes
# except installing the Debian packages in STATIC_PKGS when they are missing.
#
# Result: build/deps/prefix/{include,lib} and build/deps/versions.txt.
# Every step leaves a stamp in build/deps/stamps, so a second run takes
# well under a second. Full build output goes to build/deps/logs/*.log; the
# terminal gets one short line per step.
#
# Overridable: STATIC_JOBS (default 2), and the preferred versions
# OPENSSL_VERSION, POSTGRESQL_VERSION, CJSON_VERSION (when a preferred version
# cannot be downloaded, the other versions `apt-cache showsrc` lists are tried,
# newest first).
set -eu

# Debian packages needed to fetch, unpack and build the sources.
STATIC_PKGS="musl-tools musl-dev gcc make perl dpkg-dev patch xz-utils bzip2
             gzip tar binutils gpgv"

OPENSSL_VERSION=${OPENSSL_VERSION:-3.0.20-1~deb12u2}
POSTGRESQL_VERSION=${POSTGRESQL_VERSION:-15.18-0+deb12u1}
CJSON_VERSION=${CJSON_VERSION:-1.7.15-1+deb12u4}
JOBS=${STATIC_JOBS:-2}

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEPS=$TOP/build/deps
PREFIX=$DEPS/prefix
LOGS=$DEPS/logs
STAMPS=$DEPS/stamps
APTDIR=$DEPS/apt
DL=$DEPS/downloads
SRC=$DEPS/src

say() { echo "static: $*" >&2; }
die() { echo "static: ERROR: $*" >&2; exit 1; }
now() { date +%s; }

# run LOGNAME CMD...: run CMD with its output appended to logs/LOGNAME.log;
# on failure show the end of the log and stop.
run() {
    _log=$LOGS/$1.log; shift
    echo "+ $*" >>"$_log"
    if ! "$@" >>"$_log" 2>&1; then
        echo "static: ERROR: '$*' failed; last lines of $_log:" >&2
        tail -n 15 "$_log" | cut -c1-240 >&2
        exit 1
    fi
}

mkdir -p "$PREFIX/include/cjson" "$PREFIX/lib" "$LOGS" "$STAMPS" \
         "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$DL" "$SRC"

# ---------------------------------------------------------------- packages --
# shellcheck disable=SC2086
sh "$TOP/scripts/install-deps.sh" $STATIC_PKGS
command -v musl-gcc >/dev/null || die "musl-gcc not found (package musl-tools)"

# ------------------------------------------------- private apt with deb-src --
# A private copy of the system's sources with deb-src added; private lists,
# caches and archives; nothing under /etc or /var changes.
SOURCES=$APTDIR/sources.sources
mk_sources() {
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types:.*/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    elif [ -f /etc/apt/sources.list ]; then
        # one-line format: turn each deb line into a deb822 stanza pair
        sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\)[[:space:]]\+\([^[:space:]]\+\)[[:space:]]\+\(.*\)$/Types: deb deb-src\nURIs: \2\nSuites: \3\nComponents: \4\n/p' \
            /etc/apt/sources.list
    else
        die "no /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    fi
}
mk_sources >"$SOURCES.new"
grep -q '^Types: deb deb-src' "$SOURCES.new" || die "could not derive deb-src entries from the apt sources"
if cmp -s "$SOURCES.new" "$SOURCES"; then rm -f "$SOURCES.new"; else mv "$SOURCES.new" "$SOURCES"; rm -f "$STAMPS/apt-update"; fi

APT_OPTS="-o Dir::Etc::SourceList=$SOURCES -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$APTDIR/lists -o Dir::Cache::archives=$APTDIR/archives
 -o Dir::Cache::pkgcache=$APTDIR/pkgcache.bin -o Dir::Cache::srcpkgcache=$APTDIR/srcpkgcache.bin
 -o APT::Sandbox::User=root -o Acquire::Retries=3"

apt_update() {
    t0=$(now)
    # shellcheck disable=SC2086
    run apt apt-get $APT_OPTS update
    touch "$STAMPS/apt-update"
    say "apt: private source lists updated ($(( $(now) - t0 ))s)"
}

# Versions of source package $1 that the private lists know, newest first.
src_versions() {
    # shellcheck disable=SC2086
    apt-cache $APT_OPTS showsrc "$1" 2>/dev/null |
        awk -v p="$1" '/^Package: /{ok=($2==p)} ok && /^Version: /{print $2}' |
        sort -u | sort_versions_desc
}
sort_versions_desc() {
    _out=""
    while read -r v; do
        _new=""; _placed=""
        for o in $_out; do
            if [ -z "$_placed" ] && dpkg --compare-versions "$v" gt "$o"; then
                _new="$_new $v"; _placed=1
            fi
            _new="$_new $o"
        done
        [ -n "$_placed" ] || _new="$_new $v"
        _out=$_new
    done
    for o in $_out; do echo "$o"; done
}

# fetch PKG PREFERRED: download the source package (preferred version first,
# then the other listed versions, newest first) into downloads/, unpack and
# verify it with dpkg-source -x into src/PKG-VERSION, and print the version
# and the unpacked directory as "VERSION DIR".
fetch() {
    pkg=$1; want=$2
    if [ -f "$STAMPS/src-$pkg" ]; then
        cat "$STAMPS/src-$pkg"; return 0
    fi
    [ -f "$STAMPS/apt-update" ] || apt_update >&2
    cands=$(src_versions "$pkg")
    if [ -z "$cands" ]; then
        # stale private lists: refresh once
        apt_update >&2
        cands=$(src_versions "$pkg")
    fi
    [ -n "$cands" ] || die "apt-cache showsrc knows no source package $pkg"
    order="$want"
    for v in $cands; do [ "$v" = "$want" ] || order="$order $v"; done
    for v in $order; do
        echo "$cands" | grep -qxF "$v" || { say "$pkg $v: not in the source lists, skipping" ; continue; }
        dsc=$(ls "$DL/${pkg}_$(echo "$v" | sed 's/^[0-9]*://')".dsc 2>/dev/null || true)
        if [ -z "$dsc" ]; then
            t0=$(now)
            # apt-get source downloads into the current directory
            # shellcheck disable=SC2086
            if ! (cd "$DL" && apt-get $APT_OPTS source --download-only -q "$pkg=$v") \
                    >>"$LOGS/fetch-$pkg.log" 2>&1; then
                say "$pkg $v: download failed (see build/deps/logs/fetch-$pkg.log), trying the next version"
                continue
            fi
            dsc=$DL/${pkg}_$(echo "$v" | sed 's/^[0-9]*://').dsc
            say "$pkg $v: downloaded ($(( $(now) - t0 ))s)"
        fi
        dir=$SRC/$pkg-$v
        if ! unpack "$pkg" "$dsc" "$dir"; then
            say "$pkg $v: dpkg-source -x failed verification/extraction (see build/deps/logs/fetch-$pkg.log)"
            rm -f "$dsc"    # download it again next time
            continue
        fi
        say "$pkg $v: verified and unpacked"
        echo "$v $dir $dsc" >"$STAMPS/src-$pkg"
        cat "$STAMPS/src-$pkg"
        return 0
    done
    die "no version of $pkg could be downloaded and verified"
}

# unpack PKG DSC DIR: dpkg-source checks the size and checksums of every file
# the .dsc lists (the .dsc itself was checked by apt against the signed
# Sources index; its own signature too when a keyring is available), unpacks
# and applies the Debian patches. Marks DIR pristine.
unpack() {
    rm -rf "$3" "$STAMPS/pristine-$1"
    if dpkg-source --no-copy -x "$2" "$3" >>"$LOGS/fetch-$1.log" 2>&1; then
        touch "$STAMPS/pristine-$1"
    else
        rm -rf "$3"; return 1
    fi
}

# fresh PKG DSC DIR: make sure a build starts from an untouched tree.
fresh() {
    [ -f "$STAMPS/pristine-$1" ] && [ -d "$3" ] || unpack "$1" "$2" "$3" \
        || die "$1: cannot unpack $2 again (see build/deps/logs/fetch-$1.log)"
    rm -f "$STAMPS/pristine-$1"
}

# step NAME VERSION: true when step NAME is already done for VERSION
done_for() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

# ------------------------------------------------------------------ OpenSSL --
r=$(fetch openssl "$OPENSSL_VERSION") || exit 1
# shellcheck disable=SC2086
set -- $r; OSSL_V=$1; OSSL_DIR=$2; OSSL_DSC=$3
# Built for speed, with its assembly (no no-asm: SHA-256 and the TLS ciphers
# pick SHA-NI, AVX2... at run time): every start pays libpq's SCRAM client,
# 4096 HMAC-SHA-256 rounds through OpenSSL's EVP layer. -O2 (after OpenSSL's
# own -O3, so -O2 wins) against the -Os of before: that PBKDF2 in 3.9 instead
# of 5.7 ms, for a binary of 3.49 instead of 3.09 MiB (bench/README.md,
# "OpenSSL's build flags"); -O3 is no faster and 200 KiB larger, and no-pic
# no faster. Per-function sections: the link's --gc-sections drops the unused.
# A changed flag changes OSSL_KEY, so a cached build is rebuilt (libpq too).
OSSL_CONF="linux-x86_64 no-shared no-tests no-secure-memory no-dso no-engine
 --openssldir=/etc/ssl --prefix=$PREFIX --libdir=lib -O2 -ffunction-sections -fdata-sections"
# shellcheck disable=SC2116,SC2086
OSSL_KEY=$(echo "$OSSL_V" $OSSL_CONF)
if done_for openssl "$OSSL_KEY"; then
    say "openssl $OSSL_V: cached"
else
    t0=$(now)
    rm -f "$STAMPS/openssl" "$STAMPS/libpq" "$LOGS/openssl.log"
    fresh openssl "$OSSL_DSC" "$OSSL_DIR"
    say "openssl $OSSL_V: building (log: build/deps/logs/openssl.log)"
    # musl has no kernel headers: no-secure-memory avoids linux/mman.h.
    # --openssldir=/etc/ssl: the default config, CA file and CA dir are
    # /etc/ssl/openssl.cnf, /etc/ssl/cert.pem and /etc/ssl/certs (as on Debian
    # and Alpine).
    # shellcheck disable=SC2086
    ( cd "$OSSL_DIR" && run openssl env CC=musl-gcc ./Configure $OSSL_CONF \
      && run openssl make -j"$JOBS" build_libs \
      && run openssl make install_dev )
    echo "$OSSL_KEY" >"$STAMPS/openssl"
    say "openssl $OSSL_V: built ($(( $(now) - t0 ))s)"
fi

# -------------------------------------------------------------------- libpq --
r=$(fetch postgresql-15 "$POSTGRESQL_VERSION") || exit 1
# shellcheck disable=SC2086
set -- $r; PG_V=$1; PG_DIR=$2; PG_DSC=$3
PG_CFLAGS="-O2 -ffunction-sections -fdata-sections"
# shellcheck disable=SC2116
PG_KEY=$(echo "$PG_V" "$PG_CFLAGS" "$OSSL_KEY")
if done_for libpq "$PG_KEY"; then
    say "libpq (postgresql-15 $PG_V): cached"
else
    t0=$(now)
    rm -f "$STAMPS/libpq" "$LOGS/libpq.log"
    fresh postgresql-15 "$PG_DSC" "$PG_DIR"
    say "libpq (postgresql-15 $PG_V): building (log: build/deps/logs/libpq.log)"
    # The plain libpq `make` fails its exit()/atexit check against static
    # OpenSSL, so only the static library and the two helper libraries it
    # needs are built.
    ( cd "$PG_DIR" && run libpq ./configure CC=musl-gcc CFLAGS="$PG_CFLAGS" \
        --without-readline --without-zlib --without-icu --with-ssl=openssl \
        --without-gssapi --without-ldap \
        CPPFLAGS="-I$PREFIX/include" LDFLAGS="-L$PREFIX/lib" \
      && run libpq make -C src/backend generated-headers \
      && run libpq make -j"$JOBS" -C src/port libpgport_shlib.a \
      && run libpq make -j"$JOBS" -C src/common libpgcommon_shlib.a \
      && run libpq make -j"$JOBS" -C src/interfaces/libpq all-static-lib )
    cp "$PG_DIR/src/interfaces/libpq/libpq.a" \
       "$PG_DIR/src/common/libpgcommon_shlib.a" \
       "$PG_DIR/src/port/libpgport_shlib.a" "$PREFIX/lib/"
    cp "$PG_DIR/src/interfaces/libpq/libpq-fe.h" \
       "$PG_DIR/src/interfaces/libpq/libpq-events.h" \
       "$PG_DIR/src/include/postgres_ext.h" \
       "$PG_DIR/src/include/pg_config_ext.h" "$PREFIX/include/"
    echo "$PG_KEY" >"$STAMPS/libpq"
    say "libpq (postgresql-15 $PG_V): built ($(( $(now) - t0 ))s)"
fi

# -------------------------------------------------------------------- cJSON --
r=$(fetch cjson "$CJSON_VERSION") || exit 1
# shellcheck disable=SC2086
set -- $r; CJ_V=$1; CJ_DIR=$2; CJ_DSC=$3
CJ_CFLAGS="-std=c89 -O2 -Wall -ffunction-sections -fdata-sections"
# shellcheck disable=SC2116
CJ_KEY=$(echo "$CJ_V" "$CJ_CFLAGS")
if done_for cjson "$CJ_KEY"; then
    say "cjson $CJ_V: cached"
else
    rm -f "$STAMPS/cjson" "$LOGS/cjson.log"
    fresh cjson "$CJ_DSC" "$CJ_DIR"
    # shellcheck disable=SC2086
    run cjson musl-gcc $CJ_CFLAGS -c "$CJ_DIR/cJSON.c" -o "$CJ_DIR/cJSON.o"
    rm -f "$PREFIX/lib/libcjson.a"
    run cjson ar rcs "$PREFIX/lib/libcjson.a" "$CJ_DIR/cJSON.o"
    # both <cjson/cJSON.h> (Debian's layout) and <cJSON.h> work
    cp "$CJ_DIR/cJSON.h" "$PREFIX/include/cjson/cJSON.h"
    cp "$CJ_DIR/cJSON.h" "$PREFIX/include/cJSON.h"
    echo "$CJ_KEY" >"$STAMPS/cjson"
    say "cjson $CJ_V: built"
fi

# ------------------------------------------------------------------ summary --
cat >"$DEPS/versions.txt.new" <<EOF
openssl $OSSL_V
postgresql-15 $PG_V
cjson $CJ_V
musl $(dpkg-query -W -f='${Version}' musl-dev 2>/dev/null || echo unknown)
EOF
if cmp -s "$DEPS/versions.txt.new" "$DEPS/versions.txt"; then
    rm -f "$DEPS/versions.txt.new"
else
    mv "$DEPS/versions.txt.new" "$DEPS/versions.txt"
fi
# The stamp the link depends on: only touched when something changed.
for s in openssl libpq cjson; do
    if [ ! -f "$STAMPS/all" ] || [ "$STAMPS/$s" -nt "$STAMPS/all" ]; then
        touch "$STAMPS/all"; break
    fi
done
