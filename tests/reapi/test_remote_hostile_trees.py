"""Trees from the other side are not trusted (engine/reapi/cas.py, worker.py): a real BuildGrid
holds what a malicious server, worker or client would send — an output tree naming `../x`, a
link and a directory both called `a`, an action whose input root links `deps/x` to the worker's
own files — and neither the client nor a real `jbuild worker` writes or shows anything outside."""

import uuid

import pytest
from conftest import raw_action
from jbuild.engine.reapi.cas import Blobs, Cas, RemoteError
from jbuild.engine.reapi.channel import open_channel, platform_properties
from jbuild.engine.reapi.executor import OUTPUT, SHELL, RemoteExecutor
from jbuild.engine.reapi.pb import remote_execution_pb2 as re_pb2


@pytest.fixture
def cas(buildgrid):
    return Cas(open_channel(buildgrid.url))


def _upload(cas: Cas, build) -> re_pb2.Digest:
    blobs = Blobs()
    root = build(blobs)
    cas.upload(blobs)
    return root


def test_an_entry_named_dot_dot_is_refused_and_nothing_is_written_outside(cas, tmp_path):
    def tree(blobs):
        msg = re_pb2.Directory()
        msg.files.add(name="../escaped", digest=blobs.add_bytes(uuid.uuid4().hex.encode()))
        return blobs.add_message(msg)

    with pytest.raises(RemoteError, match="unsafe or repeated entry '../escaped'"):
        cas.materialise(_upload(cas, tree), tmp_path / "dest")
    assert not (tmp_path / "escaped").exists()


def test_a_link_and_a_directory_of_one_name_cannot_write_through_the_link(cas, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()

    def tree(blobs):
        sub = re_pb2.Directory()
        sub.files.add(name="planted", digest=blobs.add_bytes(uuid.uuid4().hex.encode()))
        top = re_pb2.Directory()
        top.directories.add(name="a", digest=blobs.add_message(sub))
        top.symlinks.add(name="a", target=str(outside))
        return blobs.add_message(top)

    with pytest.raises(RemoteError, match="unsafe or repeated entry 'a'"):
        cas.materialise(_upload(cas, tree), tmp_path / "dest")
    assert list(outside.iterdir()) == []


def test_a_worker_refuses_an_input_root_linking_a_dependency_to_its_own_files(buildgrid, workers, tmp_path):
    secret = uuid.uuid4().hex
    (tmp_path / "worker-files").mkdir()
    (tmp_path / "worker-files" / "secret").write_text(secret)
    client = RemoteExecutor(buildgrid.url)
    blobs = Blobs()
    deps = re_pb2.Directory()
    deps.symlinks.add(name="evil", target=str(tmp_path / "worker-files"))
    root = re_pb2.Directory()
    root.directories.add(name="deps", digest=blobs.add_message(deps))
    command = re_pb2.Command(arguments=[*SHELL, "cat /deps/evil/secret; mkdir -p $OUT"], output_paths=[OUTPUT],
                             output_directories=[OUTPUT], platform=platform_properties())
    action = re_pb2.Action(command_digest=blobs.add_message(command), input_root_digest=blobs.add_message(root),
                           platform=platform_properties(), do_not_cache=True)
    digest = blobs.add_message(action)
    client.cas.upload(blobs)
    response = client._execute(re_pb2.ExecuteRequest(action_digest=digest, skip_cache_lookup=True))
    log = response.result.stdout_raw or client.cas.fetch([response.result.stdout_digest])[
        (response.result.stdout_digest.hash, response.result.stdout_digest.size_bytes)]
    assert response.result.exit_code != 0
    assert secret.encode() not in log
    assert b"deps/evil is not a directory of its input root" in log, log


def test_a_worker_refuses_host_properties_with_escape_sequences_and_never_prints_them(buildgrid, workers):
    client = RemoteExecutor(buildgrid.url)
    props = {p.name: p.value for p in platform_properties().properties}
    props.update({"jbuild-host-root": "0" * 64, "jbuild-host-packages": "dash=\x1b]2;owned\x07 sed=1"})
    digest = raw_action(client, props, "mkdir -p $OUT")
    response = client._execute(re_pb2.ExecuteRequest(action_digest=digest, skip_cache_lookup=True))
    assert response.status.code == 9, response  # FAILED_PRECONDITION
    assert "host properties hold unprintable characters" in response.status.message
    logs = "".join(log.read_text() for log in workers.root.glob("w*.log"))
    assert "\x1b" not in logs and "owned" not in logs
