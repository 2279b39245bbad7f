"""A stager that dies (or cannot fork) while a sandbox probe runs through it (`--sandbox landlock`,
`jbuild info sandbox`): one clear line and exit 1, never "internal error" and a traceback, exit 37
(review of the stager, item 5)."""

from __future__ import annotations

from jbuild.engine import build, sandbox, sandbox_probes
from jbuild.engine.sandbox_zygote import StagerError, Zygote

from jbuild import cli


def test_a_stager_failing_a_probe_is_a_clear_failure(monkeypatch, capsys):
    monkeypatch.setattr(sandbox_probes, "known_yes", lambda *a: False)
    monkeypatch.setattr(sandbox, "_LANDLOCK", None)
    monkeypatch.setattr(sandbox, "_STAGES_ROOT", None)
    monkeypatch.setattr(sandbox, "_PROBER", None)

    def cannot_fork(self, *args, **kwargs):
        raise StagerError("the sandbox stager could not fork", started=False)

    monkeypatch.setattr(Zygote, "run", cannot_fork)
    try:
        build.sandbox_kind("landlock")
        raise AssertionError("no error")
    except StagerError as exc:
        code = cli._classify(exc)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err == "error: the sandbox stager could not fork\n"
