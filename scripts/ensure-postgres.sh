#!/bin/sh
# Debian's PostgreSQL server binaries for the event store tests (tests/test_store.py): the test session starts a
# private cluster of its own with initdb and pg_ctl from /usr/lib/postgresql/<version>/bin (the cluster Debian's
# package may create and start is not used). Installs `postgresql` with apt-get when missing and allowed; exit 1
# with the way otherwise.
set -eu

for bin in /usr/lib/postgresql/*/bin; do
    if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then
        exit 0
    fi
done
# Elsewhere (a source build, another distribution): the tests take initdb and pg_ctl from PATH too.
if command -v initdb >/dev/null 2>&1 && [ -x "$(dirname "$(command -v initdb)")/pg_ctl" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql (apt-get) for the event store tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    exit 0
fi
echo "error: PostgreSQL's initdb is missing (/usr/lib/postgresql/*/bin); the event store tests need it." >&2
echo "  Debian/Ubuntu: sudo apt-get install postgresql   (then run make test again)" >&2
exit 1
