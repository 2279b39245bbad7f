"""An action-cache answer whose output blobs the CAS no longer has is a miss: the action runs
again, past the server's cache, instead of failing (engine/reapi/executor.py `_from_cache`).

BuildGrid checks an answer's blobs before it gives it (tests/reapi/conftest.py starts a real
one), so the loss must fall between its answer and the download: a blob evicted from its disk
CAS in that window. The test deletes the blob's file there right after the real lookup."""

import hashlib
import uuid

from helpers import run_jbuild, write_tree
from jbuild.engine.build import build
from jbuild.engine.reapi.executor import LOST, RemoteExecutor
from jbuild.engine.settings import Options
from jbuild.engine.store.entry import read_meta


def test_an_action_cache_hit_whose_blobs_are_gone_runs_again(buildgrid, workers, tmp_path, monkeypatch, capfd):
    payload = f"payload {uuid.uuid4().hex}"  # this action is new to the session's server
    ws = write_tree(tmp_path / "ws", {"jbuild.toml": "", "BUILD": f'''
        package p {{
            version = "1"
            build = "mkdir -p $OUT/share && echo {payload} > $OUT/share/p"
        }}
    '''})

    def remote_build(store):
        r = run_jbuild("build", "//:p", "--store", str(tmp_path / store), "--sandbox", "bwrap",
                       "--remote-executor", buildgrid.url, cwd=ws, timeout=600)
        assert r.returncode == 0, r.stderr
        return r.stderr

    assert f"remote: 1 executed on {buildgrid.url}, 0 from its action cache" in remote_build("s1")
    blob = hashlib.sha256(f"{payload}\n".encode()).hexdigest()
    evicted = []
    real = RemoteExecutor._cached

    def cached_then_evicted(self, action_digest):
        result = real(self, action_digest)
        if result is not None:  # the answer names the blob; now the CAS loses it
            for path in (buildgrid.root / "cas").rglob(blob[2:]):
                path.unlink()
                evicted.append(path)
        return result

    monkeypatch.setattr(RemoteExecutor, "_cached", cached_then_evicted)
    opts = Options(store=str(tmp_path / "s2"), sandbox="bwrap", remote_executor=buildgrid.url)
    result = build(["//:p"], opts, cwd=str(ws))
    err = capfd.readouterr().err
    assert evicted, "the action cache did not answer: nothing was lost"
    assert result.code == 0, err
    assert f"remote: 1 executed on {buildgrid.url}, 0 from its action cache" in err
    [(_, built)] = result.roots
    assert (built / "share" / "p").read_text() == f"{payload}\n"
    assert LOST.strip() in (tmp_path / "s2" / read_meta(built).log).read_text()  # the log says why it ran

    monkeypatch.undo()  # the run put the blob back and answered the cache anew
    assert f"remote: 0 executed on {buildgrid.url}, 1 from its action cache" in remote_build("s3")
    assert (tmp_path / "s3" / built.name / "share" / "p").read_text() == f"{payload}\n"
