"""The CI step (docs/ci.md): build events validated against the documented JSON Schema (with the
`jsonschema` package), GitHub's workflow commands and their escaping, the CI profile's output,
and the documented pipeline's commands run twice with the store carried over as a cache."""

import json
import re
import shutil
import subprocess

import jsonschema
import pytest
from helpers import REPO, pristine_example, run_jbuild
from jbuild.engine import ci

DOC = (REPO / "docs" / "ci.md").read_text()
SCHEMA = json.loads(re.search(r"The schema.*?```json\n(.*?)```", DOC, re.DOTALL)[1])
LOUD = "; ".join(f"echo line{i}" for i in range(30))
WORKSPACE = {
    "BUILD": f"""
        package base {{ version = "1" build_requires = [@std//host:sh] build = "mkdir -p $OUT" }}
        package fails {{
            version = "1"
            requires = [:base]
            build_requires = [@std//host:sh]
            build = "{LOUD}; exit 3"
        }}
        package after {{ version = "1" requires = [:fails] build_requires = [@std//host:sh] build = "mkdir -p $OUT" }}
        test passes {{ requires = [:base] build_requires = [@std//host:sh] command = "true" }}
        test breaks {{ build_requires = [@std//host:sh] command = "echo 'bad: 100%, really'; exit 1" }}
    """,
}


def jb(root, *args, env=None):
    return run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(root.parent / "store"), **(env or {})})


def validated(path):
    """Every event valid against the schema, ids increasing, parents earlier, one end per target."""
    evs = [json.loads(line) for line in path.read_text().splitlines()]
    for e in evs:
        jsonschema.validate(e, SCHEMA)
    ids = [e["id"] for e in evs]
    assert ids == list(range(1, len(evs) + 1))
    assert evs[0]["event"] == "started" and evs[-1]["event"] == "finished"
    assert all(e["parent"] < e["id"] for e in evs[1:])
    ends = [e["target"] for e in evs if e["event"] == "target_complete"]
    assert len(ends) == len(set(ends)) == evs[0]["total"]
    return evs


def test_schema_rejects_what_it_should():
    good = {"id": 2, "parent": 1, "event": "target_complete", "time": 1.0, "target": "//a:b", "outcome": "reused",
            "cache": {"source": "local"}, "reason": "inputs unchanged", "start_time": 1.0, "end_time": 1.0,
            "duration": 0.0}
    jsonschema.validate(good, SCHEMA)
    for bad in ({"outcome": "up to date"}, {"cache": {"source": "disk"}}, {"duration": "0.1"}, {"id": "2"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **bad}, SCHEMA)


def test_events_of_builds_and_tests(make_workspace, tmp_path):
    root = make_workspace(WORKSPACE)
    r = jb(root, "build", "//:after", "//:base", "--sandbox", "bwrap", "--keep-going", "--build-events",
           str(tmp_path / "b1.json"))
    assert r.returncode == 1
    evs = validated(tmp_path / "b1.json")
    outcome = {e["target"].split("@")[0]: e["outcome"] for e in evs if e["event"] == "target_complete"}
    assert outcome == {"//:base": "built", "//:fails": "failed", "//:after": "skipped"}
    failed = next(e for e in evs if e["event"] == "action_executed" and not e["success"])
    assert failed["exit_code"] == 3 and failed["log"].endswith(".log")
    ended = next(e for e in evs if e["event"] == "target_complete" and e["outcome"] == "failed")
    assert ended["reason"] == "exit code 3"  # (a sentence, as the others', not "3")
    assert evs[-1]["exit_code"] == 1 and evs[-1]["counts"] == {"built": 1, "reused": 0, "remote": 0, "failed": 1, "skipped": 1}

    assert jb(root, "build", "//:base", "--sandbox", "bwrap").returncode == 0
    assert jb(root, "build", "//:base", "--sandbox", "bwrap", "--build-events", str(tmp_path / "b2.json")).returncode == 0
    reused = [e for e in validated(tmp_path / "b2.json") if e["event"] == "target_complete"]  # the no-op path
    assert [(e["outcome"], e["cache"]) for e in reused] == [("reused", {"source": "local"})]

    r = jb(root, "test", "//:passes", "//:breaks", "--sandbox", "bwrap", "--build-events", str(tmp_path / "t.json"))
    assert r.returncode == 3
    evs = validated(tmp_path / "t.json")
    results = {e["target"]: e for e in evs if e["event"] == "test_result"}
    assert results["//:passes"]["status"] == "passed" and results["//:breaks"]["status"] == "failed"
    assert results["//:breaks"]["log"] == "jbuild-testlogs/breaks/test.log"
    assert evs[-1]["exit_code"] == 3 and evs[-1]["tests"]["failed"] == 1
    r = jb(root, "test", "//:passes", "--sandbox", "bwrap", "--build-events", str(tmp_path / "t2.json"))
    hit = next(e for e in validated(tmp_path / "t2.json") if e["event"] == "test_result")
    assert hit["cached"] is True and hit["cache"] == {"source": "local"} and hit["test_key"] == results["//:passes"]["test_key"]


def test_escaping_as_github_requires():
    assert ci.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert ci.escape_property("a,b:c%") == "a%2Cb%3Ac%25"
    line = ci.annotation("x:y, 50%\nz", "/abs/w,s/BUILD", 3, 7, title="t: 1")
    assert line == "::error file=/abs/w%2Cs/BUILD,line=3,col=7,title=t%3A 1::x:y, 50%25%0Az"


def test_github_annotations_and_groups(make_workspace, tmp_path):
    root = make_workspace(WORKSPACE)
    env = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(root.parent)}
    r = jb(root, "build", "//:fails", "--sandbox", "bwrap", env=env)
    assert r.returncode == 1
    assert "::error file=ws/BUILD,line=3,col=9,title=jbuild%3A //%3Afails::building //:fails@1 failed: exit code 3" \
        in r.stderr, r.stderr
    group = r.stderr[r.stderr.index("::group::log of //:fails"):r.stderr.index("::endgroup::")]
    assert all(f"line{i}" in group for i in range(30)) and "::stop-commands::" in group

    r = jb(root, "test", "//:breaks", "--sandbox", "bwrap", env=env)
    assert r.returncode == 3
    assert "::error file=ws/BUILD,line=11,col=6,title=jbuild%3A //%3Abreaks::test //:breaks failed" in r.stderr
    assert "::group::test log of //:breaks" in r.stderr and "bad: 100%, really" in r.stderr

    (root / "BUILD").write_text('package p {\n    verison = "1"\n}\n')
    r = jb(root, "build", "//:p", env=env)
    assert r.returncode == 2
    assert "::error file=ws/BUILD,line=2,col=5,title=jbuild%3A recipe error::unknown attribute 'verison'" in r.stderr


def test_the_ci_profile_shows_a_failure_in_full(make_workspace):
    root = make_workspace(WORKSPACE)
    r = jb(root, "build", "//:fails", "--sandbox", "bwrap", env={"CI": "true"})
    assert r.returncode == 1 and all(f"> line{i}\n" in r.stderr for i in range(30))
    assert "::" not in r.stderr and "\033" not in r.stderr
    r = jb(root, "build", "//:fails", "--sandbox", "bwrap", env={"CI": ""})
    assert "> line29" in r.stderr and "> line5\n" not in r.stderr  # elsewhere: the end of the log
    assert r.stderr.count("ERROR: building //:fails") == 1


def test_ci_keeps_going_unless_told_not_to(make_workspace):
    root = make_workspace({"BUILD": """
        package bad1 { version = "1" build = "exit 3" }
        package bad2 { version = "1" build = "exit 4" }
        package good { version = "1" build = "mkdir -p $OUT" }
    """})
    r = jb(root, "build", "//...", "-j", "1", "--sandbox", "bwrap", env={"CI": "true"})
    assert r.returncode == 1 and "1 built, 0 reused from the store, 2 failed" in r.stderr, r.stderr
    for flags, env in ((("--no-keep-going",), {"CI": "true"}), ((), {"CI": ""})):
        r = jb(root, "build", "//...", "-j", "1", "--sandbox", "bwrap", *flags, env=env)
        assert r.returncode == 1 and "1 failed" in r.stderr, r.stderr  # fail-fast: the first failure stops it


def pipeline_commands(language: str) -> list[str]:
    """The jbuild commands of every ```yaml block, in order (`- run: jbuild …` and `- jbuild …`)."""
    lines = [line for block in re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL) for line in block.splitlines()]
    return [re.sub(r"^\s*(- run: |- )", "", line) for line in lines if re.match(r"\s*(- run: |- )jbuild ", line)]


def test_the_documented_pipeline_runs_and_its_cache_works(tmp_path):
    sequence = re.search(r"Every pipeline below runs the same commands:\n\n```sh\n(.*?)```", DOC, re.DOTALL)[1].splitlines()
    assert pipeline_commands("yaml") == sequence * 2  # GitHub Actions, then GitLab CI
    store = tmp_path / "store"

    def pipeline(n):
        ws = pristine_example(tmp_path / f"checkout{n}")  # a fresh checkout per run, as CI has
        env = {"JBUILD_STORE": str(store), "CI": "true"}
        codes = [subprocess.run(cmd, shell=True, cwd=ws, env={**_env(), **env}, capture_output=True,
                                text=True, timeout=300) for cmd in sequence]
        assert [c.returncode for c in codes] == [0, 0, 0], [c.stderr for c in codes]
        for name in ("build-events.json", "test-events.json"):
            validated(ws / name)
        return ws, codes

    ws, codes = pipeline(1)
    assert "Executed 3 out of 3 tests" in codes[1].stdout
    saved = tmp_path / "cache.tar"  # what a CI cache does: save, wipe the machine, restore
    # Exit 1 is "file changed as we read it": the host tools' tree (.host/) hard-links /usr's
    # files, whose ctime moves whenever any other store on the machine links them too.
    tar = subprocess.run(["tar", "-C", str(tmp_path), "-cf", str(saved), "store"], capture_output=True, text=True)
    assert tar.returncode in (0, 1) and all("file changed as we read it" in line
                                            for line in tar.stderr.splitlines()), tar.stderr
    shutil.rmtree(store, onerror=_writable_then_retry)
    subprocess.run(["tar", "-C", str(tmp_path), "-xf", str(saved)], check=True)
    ws, codes = pipeline(2)
    assert "0 built" in codes[0].stderr and "Executed 0 out of 3 tests" in codes[1].stdout
    assert (ws / "test-results.xml").read_text().count("<testcase") >= 7


def _env():
    import os
    import sys

    return {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}


def _writable_then_retry(func, path, _exc):
    import os

    os.chmod(os.path.dirname(path), 0o755)
    func(path)
