"""`jbuild build` makes a `result` link (a GC root, with an environment) per root only for a
build of at most 20 roots (build_options.SHOW_RESULT), unless `--out-link NAME` is given: a
`//...` of thousands makes no thousands of links and environments (Bazel makes no per-target
links; at 10,000 packages a libc patch remade 10,000 environments, ~94 s); one GC root of the
command line keeps what such a build made, and follows it. Real builds in bubblewrap, a real
store, a real gc, the in-process path and the build server, full build and no-op."""

import pytest
from helpers import run_jbuild

from jbuild.build_options import SHOW_RESULT

UNLINKED = (f"no result links ({SHOW_RESULT + 1} roots, more than {SHOW_RESULT}; `--out-link result` makes them): "
            "one GC root of this command line keeps what it built")


def _workspace(make_workspace, n: int):
    return make_workspace({"BUILD": "".join(f'package p{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/x" }}\n'
                                            for i in range(n))})


def _links(ws) -> list[str]:
    return sorted(p.name for p in ws.iterdir() if p.name.startswith("result"))


def _gc_roots(store) -> int:
    return len(list((store / "roots").glob("*.json"))) if (store / "roots").is_dir() else 0


@pytest.mark.parametrize("server", ["0", "1"], ids=["in-process", "server"])
def test_a_pattern_of_more_than_20_roots_makes_no_links_unless_asked(make_workspace, tmp_path, server):
    ws, store = _workspace(make_workspace, SHOW_RESULT + 1), tmp_path / "store"
    env = {"JBUILD_STORE": str(store), "JBUILD_SERVER": server}
    try:
        for _ in range(2):  # a full build, then the no-op path: the same answer
            r = run_jbuild("build", "//...", cwd=ws, env=env)
            assert r.returncode == 0 and UNLINKED in r.stderr, r.stderr
            assert _links(ws) == [] and _gc_roots(store) == 1  # the build's one root
            assert not [p for p in store.iterdir() if "-env-" in p.name]  # no environment made either
        r = run_jbuild("gc", cwd=ws, env={**env, "JBUILD_SERVER": "0"})
        assert r.returncode == 0 and "deleting" not in r.stdout, r.stdout  # that root holds every entry
        (ws / "BUILD").write_text((ws / "BUILD").read_text().replace("echo 0 >", "echo zero >"))
        r = run_jbuild("build", "//...", cwd=ws, env=env)  # the root follows the build: the old p0 is not held
        assert r.returncode == 0 and "1 built" in r.stderr, r.stderr
        r = run_jbuild("gc", cwd=ws, env={**env, "JBUILD_SERVER": "0"})
        assert r.returncode == 0 and r.stdout.count("deleting ") == 1 and "-p0-1" in r.stdout, r.stdout
        r = run_jbuild("build", "//...", "--out-link", "result", cwd=ws, env=env)  # asked for: each root's
        assert r.returncode == 0 and "no result links" not in r.stderr, r.stderr
        assert len(_links(ws)) == SHOW_RESULT + 1 and _gc_roots(store) == SHOW_RESULT + 2
        r = run_jbuild("gc", cwd=ws, env={**env, "JBUILD_SERVER": "0"})
        assert r.returncode == 0 and "deleting" not in r.stdout, r.stdout  # the links hold everything
    finally:
        run_jbuild("shutdown", cwd=ws, env=env)


def test_up_to_20_roots_get_their_links_by_default(make_workspace, tmp_path):
    ws, store = _workspace(make_workspace, SHOW_RESULT), tmp_path / "store"
    r = run_jbuild("build", "//...", cwd=ws, env={"JBUILD_STORE": str(store), "JBUILD_SERVER": "0"})
    assert r.returncode == 0 and "no result links" not in r.stderr, r.stderr
    assert len(_links(ws)) == SHOW_RESULT and _gc_roots(store) == SHOW_RESULT
    assert (ws / "result").is_symlink() and "-env-" in (ws / "result").resolve().name


def test_build_help_says_when_links_are_made(make_workspace):
    r = run_jbuild("build", "--help", cwd=make_workspace({"BUILD": ""}))
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and f"for a build of at most {SHOW_RESULT} roots" in text, r.stdout
