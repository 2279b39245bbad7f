"""Where the log of a target's last build is: the decision recorded for it in this workspace
names its key, and the store keeps the log by key. A test's is its last run's, in the
workspace's jbuild-testlogs/ (as `bazel test` keeps bazel-testlogs/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jbuild.base.errors import BadInput
from jbuild.dsl.labels import Label, VersionedLabel
from jbuild.dsl.loader import Loader, parse_cli_label
from jbuild.dsl.workspace import Workspace

from .settings import Options, resolve
from .store import Store


@dataclass(frozen=True)
class FoundLog:
    node: str
    path: Path | None
    why: str = ""


def last_log(label: str, opts: Options) -> FoundLog:
    ws = Workspace.find()
    parsed = parse_cli_label(label, ws).label
    wanted = str(parsed)
    store = Store(Path(resolve(ws, opts).store))
    rows = [(node, d) for node, d in store.index.decisions(str(ws.root)).items() if d.label == wanted]
    if not rows:
        from .testing.testlogs import directory

        tested = directory(ws.root, parsed.package, parsed.name) / "test.log"
        if tested.exists():  # a test: `jbuild test` keeps its last run's log in the workspace, not the store
            return FoundLog(wanted, tested)
        if _is_test(ws, parsed):  # (`//nope:x`: no such package (did you mean ...?), as build says it)
            raise BadInput(f"no run of the test {wanted} is recorded in this workspace (`jbuild test {wanted}` "
                           "runs it; `jbuild build` does not)")
        raise BadInput(f"no build of {wanted} is recorded in this workspace (build it first)")
    node, decision = rows[0]
    path = store.log_path(decision.key)
    if not path.exists():
        return FoundLog(node, None, "it was reused from the store; its log is gone" if decision.decision == "reused"
                        else "no log was kept")
    return FoundLog(node, path)


def _is_test(ws: Workspace, label: Label) -> bool:
    """Whether `label` is a test; the loader's own error (no such package or target, with
    did-you-mean: exit 2) for a label that names nothing."""
    from jbuild.dsl.model import Test

    loader = Loader(ws)
    found = loader.lookup(VersionedLabel(label, None))
    loader.raise_errors()
    return any(isinstance(t, Test) for t in found)
