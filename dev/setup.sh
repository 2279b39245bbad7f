#!/usr/bin/env bash
# Set up everything jbuild and its tests need on a fresh Debian machine (run as root):
# bubblewrap and the C toolchain from Debian, a virtualenv in .venv with jbuild installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v ninja >/dev/null || need+=(ninja-build)
command -v dot >/dev/null || need+=(graphviz)  # tests render `jbuild query --output graph` (DOT)
# The OCI tools the image tests use (skopeo inspect, umoci unpack).
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v patch >/dev/null || need+=(patch)  # patches = [...] (engine/fetch/patches.py)
command -v git >/dev/null || need+=(git)  # git(url, commit) sources (engine/fetch/git.py)
command -v curl >/dev/null || need+=(curl)  # dev/fetch-mirror.sh
# The shared HTTP cache's tests start Debian's nginx (its WebDAV module serves PUT) on 127.0.0.1.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v runuser >/dev/null && command -v prlimit >/dev/null || need+=(util-linux)  # prlimit: the process-limit test
# Remote execution tests (tests/reapi/): BuildGrid's SQL scheduler needs PostgreSQL.
[ -x /usr/lib/postgresql/15/bin/postgres ] || [ -n "${JBUILD_PG_BIN:-}" ] || need+=(postgresql)
# The Debian packages the @std//host:* tools stand for (stdlib-recipes/host/BUILD): the sandbox's
# /usr is assembled from them, so they must be installed.
for pkg in dash coreutils sed grep findutils gcc g++ binutils libc6-dev make python3 pkgconf tar xz-utils \
           patch cmake mawk diffutils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,remote]'

# examples/distro's source archives, from the Debian archive apt uses, into its mirror/
# (tests/engine/test_distro.py builds from there, offline). A failure here is reported by that test.
bash dev/fetch-mirror.sh || echo "setup: dev/fetch-mirror.sh failed; examples/distro cannot build offline" >&2
# BuildGrid, the REAPI server the remote-execution tests start, in its own Python 3.13 virtualenv.
.venv/bin/python dev/bgd_server.py setup
