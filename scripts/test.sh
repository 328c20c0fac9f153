#!/usr/bin/env bash
# Install what the test suite needs and run all of it: the README's test command and CI's.
#   - as root: the Debian peers the interop tests talk to (orthanc, dcmtk, the Monitoring
#     Plugins in monitoring-plugins-basic, prometheus, restic, borgbackup) and python3-venv;
#     their services are not started by the install (a policy-rc.d for its duration): the
#     tests start their own; without them (not root) the interop tests skip naming the
#     missing peer, except under CI=true where a missing peer fails the run;
#   - the project and its test extras into ./.venv (created if missing);
#   - pytest over tests/ (unit, interop, ui), one worker per CPU (pytest-xdist: most tests wait
#     on a peer or a subprocess, so two workers on two cores take about half the time; `-n 0`
#     runs them in this process). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=(orthanc dcmtk monitoring-plugins-basic prometheus prometheus-node-exporter systemd bsdutils openssl restic borgbackup)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${PEERS[@]}" python3-venv; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "== installing Debian packages: ${missing[*]}"
        apt-get update -qq
        # No daemon started by a package's install (prometheus, orthanc): the tests start
        # their own on free loopback ports. Docker's way: policy-rc.d says "not now".
        made_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            made_policy=1
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
        if [ -n "$made_policy" ]; then
            rm -f /usr/sbin/policy-rc.d
            trap - EXIT
        fi
    fi
else
    for bin in /usr/sbin/Orthanc /usr/bin/storescp /usr/bin/dcmqrscp /usr/bin/echoscu \
        /usr/lib/nagios/plugins/check_dummy /usr/lib/nagios/plugins/check_tcp \
        /usr/lib/nagios/plugins/check_disk /usr/lib/nagios/plugins/check_load \
        /usr/lib/nagios/plugins/check_procs /usr/lib/nagios/plugins/negate \
        /usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-node-exporter /usr/bin/logger \
        /usr/bin/openssl /usr/bin/restic /usr/bin/borg; do
        [ -x "$bin" ] || echo "note: $bin is missing (sudo apt-get install ${PEERS[*]}); its interop tests will skip"
    done
fi

# Debian's own Python when it is new enough (3.11 on Debian 12): the Python a hospital server
# runs, whose asyncio quirks the tests must meet; else python3 from PATH; $PYTHON overrides.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if /usr/bin/python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PY=/usr/bin/python3
    else
        PY=python3
    fi
fi
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
echo "== installing pacs-tui[test] into .venv"
# (the grep drops pip's notes about local index folders some machines configure)
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }

echo "== running the test suite"
exec .venv/bin/python -m pytest -n auto --dist worksteal "$@"
