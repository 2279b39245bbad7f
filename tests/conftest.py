import json
from pathlib import Path

import pytest
from helpers import pristine_example, run_jbuild, write_tree


@pytest.fixture
def make_workspace(tmp_path):
    """make_workspace({"BUILD": "...", "src/a.c": "..."}) -> a workspace root with jbuild.toml."""

    def make(files: dict[str, str], toml: str = "") -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        (root / "jbuild.toml").write_text(toml)
        return write_tree(root, files)

    return make


class Example:
    """A private copy of the example workspace with its own store."""

    def __init__(self, root, store):
        self.root, self.store = root, store
        self.runs = 0

    def jbuild(self, *args, **kw):
        return run_jbuild(*args, cwd=self.root, env={"JBUILD_STORE": str(self.store)}, **kw)

    def build(self, *args, target="//services:geotags"):
        """Build; return (process, {target: "built"|"reused"}) from the build events."""
        self.runs += 1
        events = self.root / f"events-{self.runs}.json"
        r = self.jbuild("build", target, "--sandbox", "bwrap", "--build-events", str(events), *args)
        seen = {}
        for line in events.read_text().splitlines() if events.exists() else []:
            e = json.loads(line)
            if e["event"] == "target_complete" and e["outcome"] != "failed":
                seen[e["target"].split("@")[0]] = e["outcome"]  # built | reused | skipped
        return r, seen

    def edit(self, rel, old, new):
        p = self.root / rel
        text = p.read_text()
        assert old in text
        p.write_text(text.replace(old, new))


@pytest.fixture
def example(tmp_path):
    return Example(pristine_example(tmp_path / "geotags"), tmp_path / "store")
