"""Review of h-startup (22d41a4): an "empty" jbuild.toml skips TOML's parser when
`text.strip()` is empty, but str.strip() also removes what TOML does not accept as whitespace
(a no-break space, a form feed, a vertical tab): such a file was refused with exit 2 and a caret,
and is now accepted as empty. Bad input must stay refused. (Fix: test `text.strip(" \\t\\r\\n")`.)"""

import pytest
from helpers import run_jbuild

BUILD = 'package a {\n    version = "1"\n    build = "mkdir -p $OUT"\n}\n'


@pytest.mark.parametrize("text", ["\u00a0\n", "\x0c\n"])
def test_a_jbuild_toml_of_non_toml_whitespace_is_refused(make_workspace, tmp_path, text):
    root = make_workspace({"BUILD": BUILD}, toml=text)
    r = run_jbuild("build", "//:a", "--no-link", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2 and "jbuild.toml:1:1" in r.stderr and "Traceback" not in r.stderr, r.stderr
