"""An action no worker takes (here: for a machine type no worker is) is said once, after a
while, instead of a build that looks "running" forever: a real BuildGrid with no worker of
that platform, the real client."""

import platform
import threading
import time

from conftest import raw_action
from jbuild.engine.reapi.executor import RemoteExecutor
from jbuild.engine.reapi.pb import remote_execution_pb2 as re_pb2


def _action(client: RemoteExecutor, isa: str, script: str):
    return raw_action(client, {"ISA": isa, "OSFamily": "linux", "sandbox": "bwrap"}, script)


def test_an_action_no_worker_takes_is_said_once_and_cancel_ends_the_wait(buildgrid, capsys):
    client = RemoteExecutor(buildgrid.url)
    client.queue_warning = 1.0
    digest = _action(client, "riscv64", "mkdir -p $OUT")
    ended = []

    def execute():
        try:
            client._execute(re_pb2.ExecuteRequest(action_digest=digest, skip_cache_lookup=True))
        except Exception as exc:  # the cancelled call
            ended.append(exc)

    thread = threading.Thread(target=execute)
    thread.start()
    time.sleep(4)
    client.cancel()
    thread.join(20)
    assert not thread.is_alive() and ended
    err = capsys.readouterr().err
    assert err.count(f"in the queue of {buildgrid.url} and no worker has taken it") == 1, err
    assert f"is a `jbuild worker --server {buildgrid.url}` running" in err


def test_an_action_a_worker_runs_longer_than_the_warning_is_not_called_queued(buildgrid, workers, capsys):
    client = RemoteExecutor(buildgrid.url)
    client.queue_warning = 3.0
    digest = _action(client, platform.machine().replace("_", "-"), "sleep 6; mkdir -p $OUT")
    response = client._execute(re_pb2.ExecuteRequest(action_digest=digest, skip_cache_lookup=True))
    assert response.result.exit_code == 0, response
    assert "no worker has taken it" not in capsys.readouterr().err
