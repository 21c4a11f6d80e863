#!/usr/bin/python3
"""Writes the static binary as a Python wheel (`make wheel`).

    build-wheel.py --binary build/static/migration-sentry --version 0.1.0 \
        --readme README.md --out-dir dist [--summary ... --license ... --url NAME=URL ...]

The wheel (PEP 427, with PEP 491's layout) holds no Python at all: the binary
is the distribution's one script, in NAME-VERSION.data/scripts/, which pip
copies into the environment's bin/ (a virtualenv's PATH) with its executable
bit. Its tags say "any Python 3, no ABI, any x86-64 Linux": the binary is
static, so it needs no libc and runs on glibc (manylinux, PEP 600; the legacy
manylinux1 alias for pip before 20.3) and musl (musllinux, PEP 656) systems
alike. Only the standard library is used.

Reproducible: every entry has the same fixed timestamp (SOURCE_DATE_EPOCH
when set, else 1980-01-01, the oldest a zip can hold) and mode, the entries
are in a fixed order, so the same inputs give the same bytes. The file is
written under a temporary name and renamed into place.
"""

import argparse
import base64
import hashlib
import os
import re
import subprocess
import sys
import time
import zipfile

NAME = "migration-sentry"
DIST = "migration_sentry"          # the name as a wheel's file name spells it
PLATFORMS = ("manylinux_2_5_x86_64", "manylinux1_x86_64", "musllinux_1_1_x86_64")
TAG_PYTHON, TAG_ABI = "py3", "none"
CLASSIFIERS = (
    "Development Status :: 4 - Beta",
    "Environment :: Console",
    "Framework :: Flask",
    "Intended Audience :: Developers",
    "Intended Audience :: System Administrators",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: C",
    "Topic :: Database",
    "Topic :: System :: Software Distribution",
)


def fail(msg):
    sys.stderr.write("build-wheel: error: %s\n" % msg)
    sys.exit(1)


def zip_time():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return (1980, 1, 1, 0, 0, 0)
    if not epoch.isdigit():
        fail("SOURCE_DATE_EPOCH must be a whole number of seconds, got %r" % epoch)
    t = time.gmtime(max(int(epoch), 315532800))  # a zip cannot go before 1980
    return t[:6]


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def metadata(args, readme):
    lines = ["Metadata-Version: 2.1",
             "Name: " + NAME,
             "Version: " + args.version,
             "Summary: " + args.summary]
    if args.license:
        lines.append("License: " + args.license)
    for spec in args.url:
        label, sep, url = spec.partition("=")
        if not sep or not label or not url:
            fail("--url wants LABEL=URL, got %r" % spec)
        lines.append("Project-URL: %s, %s" % (label, url))
    lines += ["Platform: Linux", "Keywords: alembic,flask-migrate,postgresql,migrations,docker"]
    lines += ["Classifier: " + c for c in CLASSIFIERS]
    lines += ["Description-Content-Type: text/markdown", "", readme]
    return "\n".join(lines).encode("utf-8")


def wheel_file():
    lines = ["Wheel-Version: 1.0",
             "Generator: migration-sentry scripts/build-wheel.py",
             "Root-Is-Purelib: false"]
    lines += ["Tag: %s-%s-%s" % (TAG_PYTHON, TAG_ABI, p) for p in PLATFORMS]
    return ("\n".join(lines) + "\n").encode("ascii")


def check_binary(path, version):
    """The binary is the static one and says the version we are about to
    stamp on the wheel (a stale build/ would otherwise ship quietly)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[18] != 62:  # ELF64, EM_X86_64
        fail("%s is not an x86-64 ELF binary" % path)
    out = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=30)
    if out.returncode != 0 or out.stdout.strip() != "%s %s" % (NAME, version):
        fail("%s --version says %r, not %r" % (path, out.stdout.strip(), NAME + " " + version))


def build(args):
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*([ab]|rc)?[0-9]*(\.post[0-9]+)?(\.dev[0-9]+)?",
                        args.version):
        fail("version %r is not a PEP 440 version" % args.version)
    check_binary(args.binary, args.version)
    with open(args.binary, "rb") as f:
        binary = f.read()
    with open(args.readme, encoding="utf-8") as f:
        readme = f.read()
    data_dir = "%s-%s.data" % (DIST, args.version)
    info_dir = "%s-%s.dist-info" % (DIST, args.version)
    entries = [(data_dir + "/scripts/" + NAME, binary, 0o755),
               (info_dir + "/METADATA", metadata(args, readme), 0o644),
               (info_dir + "/WHEEL", wheel_file(), 0o644)]
    record = "".join("%s,%s,%d\n" % (n, record_hash(d), len(d)) for n, d, _ in entries)
    record += info_dir + "/RECORD,,\n"
    entries.append((info_dir + "/RECORD", record.encode("ascii"), 0o644))

    name = "%s-%s-%s-%s-%s.whl" % (DIST, args.version, TAG_PYTHON, TAG_ABI, ".".join(PLATFORMS))
    os.makedirs(args.out_dir, exist_ok=True)
    out = os.path.join(args.out_dir, name)
    tmp = out + ".tmp"
    stamp = zip_time()
    with zipfile.ZipFile(tmp, "w") as z:
        for n, d, mode in entries:
            zi = zipfile.ZipInfo(n, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.create_system = 3                      # Unix, so the mode below is read
            zi.external_attr = (0o100000 | mode) << 16
            z.writestr(zi, d, compresslevel=9)
    os.replace(tmp, out)
    print(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--summary", default="Gates a Flask-Migrate / Alembic app's start on a "
                                          "migrated PostgreSQL: one static binary")
    ap.add_argument("--license", default="")
    ap.add_argument("--url", action="append", default=[], metavar="LABEL=URL")
    build(ap.parse_args())


if __name__ == "__main__":
    main()
