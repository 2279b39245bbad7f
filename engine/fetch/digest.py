"""What a fetched source contributes to its package's source hash: the declared content hash
(an archive's sha256 and how it is unpacked, a git commit id), never the URL. So moving a
tarball to a mirror, or a repository to another host, rebuilds nothing; and no key needs a
download, since the hash is written in the recipe."""

from __future__ import annotations

from jbuild.dsl.model import Archive, Package

UNPACK_FORMAT = 1  # how archives become $SRC (unpack.py): bumped when that changes


def source_digests(pkg: Package) -> dict[str, str]:
    """`{"(archive 1)": "sha256:HEX strip=1 unpack=1", "(git 2)": "git:COMMIT unpack=1"}`:
    entries beside the declared files' `path -> digest` in the key's `sources`."""
    out = {}
    for n, f in enumerate(getattr(pkg.sources, "fetched", ()), 1):
        if isinstance(f, Archive):
            out[f"(archive {n})"] = f"sha256:{f.sha256} strip={f.strip} unpack={UNPACK_FORMAT}"
        else:
            out[f"(git {n})"] = f"git:{f.commit} unpack={UNPACK_FORMAT}"
    return out
