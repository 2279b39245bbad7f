"""Fetched sources built by an ordinary user (as tests/engine/test_store_nonroot.py runs the
example): the download cache, patches and a git export in a store that user owns."""

import os
import subprocess

from fetchkit import make_git_repo, make_tar, sha256
from helpers import write_tree
from test_store_nonroot import IS_ROOT, USER, user  # noqa: F401 (the fixture)

PROGRAM = '#include <stdio.h>\nint main(void) { puts("v1"); return 0; }\n'
PATCH = """--- a/main.c
+++ b/main.c
@@ -1,2 +1,2 @@
 #include <stdio.h>
-int main(void) { puts("v1"); return 0; }
+int main(void) { puts("v1 patched"); return 0; }
"""


def test_an_ordinary_user_fetches_patches_and_exports_git(user):  # noqa: F811
    home = user.home
    ws = home / "ws"
    tarball = make_tar(home / "mirror" / "prog-1.0.tar.gz", {"main.c": PROGRAM}, top="prog-1.0")
    commit = make_git_repo(home / "repo", {"main.c": PROGRAM.replace("v1", "from git")})
    cc = "build_requires = [@std//host:cc]"
    build = 'build = "mkdir -p $OUT/bin && cc -o $OUT/bin/NAME $SRC/main.c"'
    write_tree(ws, {
        "jbuild.toml": '[fetch]\nmirrors = ["../mirror"]\n',
        "patches/v.patch": PATCH,
        "BUILD": f"""
            package tarred {{
                version = "1.0"
                sources = archive(url = "https://nowhere.example/prog-1.0.tar.gz", sha256 = "{sha256(tarball)}",
                                  strip = 1)
                patches = ["patches/v.patch"]
                {cc}
                {build.replace("NAME", "tarred")}
            }}
            package cloned {{
                version = "1.0"
                sources = [git(url = "{home / 'repo'}", commit = "{commit}")]
                {cc}
                {build.replace("NAME", "cloned")}
            }}
        """})
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
    r = user.jbuild("build", "//:tarred", "//:cloned", "--offline", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0, r.stderr
    runs = {name: user.run(str(ws / link / "bin" / name), cwd=ws) for name, link in
           (("cloned", "result"), ("tarred", "result-2"))}  # roots in label order
    out = {name: p.stdout + p.stderr for name, p in runs.items()}
    assert out == {"tarred": "v1 patched\n", "cloned": "from git\n"}
    cached = home / "store" / ".downloads" / "sha256" / sha256(tarball)
    assert cached.stat().st_uid == os.stat(home).st_uid and cached.stat().st_mode & 0o777 == 0o444
