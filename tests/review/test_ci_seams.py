"""Review: the CI step where it meets recipe errors — a broken BUILD file in a pull request is
the commonest CI failure, and the pipeline of docs/ci.md uploads the events file `if: always()`."""

import json

import jsonschema
from helpers import REPO, run_jbuild


def test_a_recipe_error_still_writes_a_finished_build_event(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": 'package a {\n    verison = "1"\n}\n'})
    events = tmp_path / "events.json"
    r = run_jbuild("build", "//:a", "--build-events", str(events), cwd=ws, env={"JBUILD_STORE": str(tmp_path / "s")})
    assert r.returncode == 2
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["started", "finished"] and lines[-1]["exit_code"] == 2
    validator = jsonschema.Draft202012Validator(event_schema())
    for e in lines:
        validator.validate(e)
    # an earlier run's file is replaced, not left to be read as this run's
    r = run_jbuild("test", "//:nothing", "--build-events", str(events), cwd=ws, env={"JBUILD_STORE": str(tmp_path / "s")})
    assert r.returncode == 2
    assert json.loads(events.read_text().splitlines()[0])["time"] > lines[0]["time"]


def test_no_tests_found_writes_its_exit_code_as_the_last_event(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": 'package a {\n    version = "1"\n}\n'})
    events = tmp_path / "events.json"
    r = run_jbuild("test", "//...", "--build-events", str(events), cwd=ws, env={"JBUILD_STORE": str(tmp_path / "s")})
    assert r.returncode == 4
    assert json.loads(events.read_text().splitlines()[-1])["exit_code"] == 4


def event_schema() -> dict:
    """The JSON Schema of docs/ci.md (the block after 'The schema')."""
    text = (REPO / "docs" / "ci.md").read_text()
    block = text[text.index("The schema"):]
    block = block[block.index("```json") + len("```json"):]
    return json.loads(block[:block.index("```")])


def test_github_annotation_for_a_recipe_error_names_the_file_and_line(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": 'package a {\n    verison = "1"\n}\n'})
    r = run_jbuild("build", "//:a", cwd=ws, env={"JBUILD_STORE": str(tmp_path / "s"), "GITHUB_ACTIONS": "true"})
    assert r.returncode == 2
    assert "::error file=BUILD,line=2,col=5," in r.stdout + r.stderr
