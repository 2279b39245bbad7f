#!/usr/bin/env bash
# Fill examples/distro/mirror/ with the source archives its recipes declare, from the Debian
# archive apt is configured with (the only network this machine's builds may count on), so that
# `jbuild build` there and the tests work offline. Each file is verified against its sha256
# (examples/distro/debian-sources.txt) before it is kept, stored by name and as sha256/HASH.
# Usage: dev/fetch-mirror.sh [MIRROR_DIR]   (DEBIAN_MIRROR=URL overrides the apt source)
set -euo pipefail
cd "$(dirname "$0")/.."
list=examples/distro/debian-sources.txt
dest=${1:-examples/distro/mirror}

debian_base() {
    # The first non-security Debian archive of apt's sources (deb822 files, then one-line ones).
    local uri
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && u && $0 !~ /security/ {print u; exit}' \
              /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
                  /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 || true)
    fi
    printf '%s\n' "${uri%/}"
}

base=${DEBIAN_MIRROR:-$(debian_base)}
if [ -z "$base" ]; then
    echo "fetch-mirror: no Debian archive in apt's sources; set DEBIAN_MIRROR=URL" >&2
    exit 2
fi
mkdir -p "$dest/sha256"
status=0
while read -r sha path; do
    case $sha in ''|'#'*) continue ;; esac
    name=$(basename "$path")
    if [ -f "$dest/sha256/$sha" ] && echo "$sha  $dest/sha256/$sha" | sha256sum -c --quiet - 2>/dev/null; then
        continue
    fi
    tmp="$dest/.$name.part"
    if ! curl -fsSL --retry 2 -o "$tmp" "$base/$path"; then
        echo "fetch-mirror: cannot fetch $base/$path" >&2
        rm -f "$tmp"; status=1; continue
    fi
    got=$(sha256sum "$tmp" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        echo "fetch-mirror: $name: sha256 $got, expected $sha; not kept" >&2
        rm -f "$tmp"; status=1; continue
    fi
    chmod 444 "$tmp"
    mv -f "$tmp" "$dest/sha256/$sha"
    ln -f "$dest/sha256/$sha" "$dest/$name"
    echo "fetch-mirror: $name ($(wc -c < "$dest/$name") bytes)" >&2
done < "$list"
exit $status
