"""The service runner with real processes: order, readiness, discovery, logs, stop, failures."""

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from jbuild.base.errors import BadInput
from jbuild.engine.services import SERVICE_FAILED_BASE, ServiceSpec, run_program, run_services, start_order
from jbuild.engine.services.readiness import port_open
from servicekit import HERE, Lines, base_env, fake, free_port, gone, talk


def spec(name, command, ports=(), requires=(), env=None, **kw):
    return ServiceSpec(name=name, label=f"//t:{name}", command=list(command), env=env or base_env(),
                       ports=list(ports), requires=list(requires), **kw)


def pids(out: Lines, what="pid"):
    return [int(m) for m in re.findall(rf"\| {what} (\d+)", out.text)]


def test_tinydb_started_by_the_runner_answers_and_keeps_its_data(example_bins, in_thread, tmp_path):
    port = free_port()
    db = spec("tinydb", [example_bins["tinydb"], str(port)], [port], env=example_bins["env"])
    run = in_thread([db])
    run.out.wait_for("tinydb is ready")
    assert talk(port, "SET city Aalborg, Denmark", "GET city", "GET nothing", "HELLO") == [
        "OK", "VALUE Aalborg, Denmark", "MISSING", "ERROR expected 'SET key value' or 'GET key'"]
    assert run.finish() == 0
    assert "tinydb | tinydb stopping" in run.out.lines
    # its state directory (<root>/var/tinydb) is kept: a second run replays the journal
    again = in_thread([db])
    again.out.wait_for("tinydb is ready")
    again.out.wait_for(r"\(1 records replayed\)")
    assert talk(port, "GET city") == ["VALUE Aalborg, Denmark"]
    assert again.finish() == 0


def test_consumer_starts_after_its_requirement_and_is_told_where_it_is(example_bins, in_thread, tmp_path):
    db_port, tags_port = free_port(), free_port()
    db = spec("tinydb", [example_bins["tinydb"], str(db_port)], [db_port], env=example_bins["env"])
    shown = 'echo "host=$TINYDB_HOST port=$TINYDB_PORT"; cat "$JBUILD_DISCOVERY"; echo; exec "$0" serve "$1"'
    tags = spec("geotags", ["sh", "-c", shown, example_bins["geotags"], str(tags_port)], [tags_port], ["tinydb"],
                env={**example_bins["env"], "TINYDB_PORT": "1"})  # a recipe's fixed port loses to discovery
    run = in_thread([tags, db])  # given in the wrong order on purpose
    run.out.wait_for("geotags is ready")
    run.out.wait_for("geotags serving on")  # its lines may trail the readiness probe
    lines = run.out.lines
    assert lines.index("jbuild: tinydb is ready") < next(i for i, ln in enumerate(lines) if "starting geotags" in ln)
    assert f"geotags | host=127.0.0.1 port={db_port}" in lines
    discovery = json.loads((tmp_path / "run/discovery/geotags.json").read_text())
    assert discovery == {"tinydb": {"label": "//t:tinydb", "host": "127.0.0.1", "port": db_port, "ports": [db_port]}}
    assert "geotags | geotags: stored tag selfcheck=u4pruydqqvj in tinydb and read it back" in run.out.text
    assert talk(tags_port, "TAG harbour 57.05 9.92", "GET harbour") == ["OK u4ph99xs2fb", "VALUE u4ph99xs2fb 57.05000 9.92000"]
    assert talk(db_port, "GET tag:harbour") == ["VALUE u4ph99xs2fb 57.05000 9.92000"]
    assert run.finish() == 0
    stops = [ln for ln in run.out.lines if ln.startswith("jbuild: stopping")]
    assert stops == ["jbuild: stopping geotags", "jbuild: stopping tinydb"]
    assert "tinydb listening on" in (tmp_path / "run/logs/tinydb.log").read_text()


def test_sigint_stops_in_reverse_order_and_leaves_nothing_behind(tmp_path):
    record, p1, p2 = tmp_path / "stopped.txt", free_port(), free_port()
    specs = [dataclasses.asdict(s) for s in (
        spec("db", fake("db", "--port", p1, "--record", record, "--child"), [p1]),
        spec("cache", fake("cache", "--port", p2, "--record", record), [p2], ["db"]),
        spec("web", fake("web", "--record", record, "--child"), [], ["cache", "db"]),
    )]
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    proc = subprocess.Popen([sys.executable, str(HERE / "run_specs.py"), str(tmp_path / "specs.json"), str(tmp_path / "run")],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = Lines()
    for line in proc.stdout:
        out.write(line)
        if "service(s) ready" in out.text and "web | sees" in out.text:  # web has its handler and child
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=15)
    out.write(rest)
    assert proc.returncode == 0, out.text
    assert record.read_text().split("\n")[:3] == ["stopped web", "stopped cache", "stopped db"]
    everyone = pids(out) + pids(out, "child")
    assert len(everyone) == 5
    deadline = time.monotonic() + 5
    while not all(gone(p) for p in everyone) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in everyone if not gone(p)] == []


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs util-linux setpriv")
def test_services_die_with_a_runner_killed_by_sigkill(tmp_path):
    port = free_port()
    (tmp_path / "specs.json").write_text(json.dumps([dataclasses.asdict(spec("db", fake("db", "--port", port), [port]))]))
    proc = subprocess.Popen([sys.executable, str(HERE / "run_specs.py"), str(tmp_path / "specs.json"), str(tmp_path / "run")],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = Lines()
    for line in proc.stdout:
        out.write(line)
        if "service(s) ready" in line:
            break
    proc.kill()  # no chance to stop anything itself
    proc.wait()
    pid, deadline = pids(out)[0], time.monotonic() + 5
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid) and not port_open(port)


def test_a_service_ignoring_sigterm_is_killed_after_the_stop_timeout(in_thread):
    run = in_thread([spec("stubborn", fake("stubborn", "--ignore-term"))], stop_timeout=0.5)
    run.out.wait_for(r"stubborn \| pid")
    pid = pids(run.out)[0]
    started = time.monotonic()
    assert run.finish() == 0
    assert 0.4 < time.monotonic() - started < 5
    assert "jbuild: stubborn stopped (was killed by SIGKILL)" in run.out.lines and gone(pid)


def test_a_dying_service_is_named_with_its_last_lines_and_the_others_stop(in_thread, tmp_path):
    record, port = tmp_path / "stopped.txt", free_port()
    db = spec("db", fake("db", "--port", port, "--lines", 30, "--die-after", 0.7, "--code", 3), [port])
    web = spec("web", fake("web", "--record", record), [], ["db"])
    run = in_thread([db, web])
    code = run.wait()
    assert code == SERVICE_FAILED_BASE + 1  # db, the first service started
    text = run.out.text
    assert "jbuild: error: service db (//t:db) exited with code 3; its last lines:" in text
    assert "    db | dying with 3" in text and "    db | line 29" in text and "    db | line 0\n" not in text
    assert record.read_text() == "stopped web\n"
    assert "exit code 101 (service 1 of 2 in start order)" in text


def test_a_service_that_never_gets_ready_times_out_clearly(in_thread, tmp_path):
    record, port = tmp_path / "stopped.txt", free_port()
    first = spec("first", fake("first", "--record", record))
    mute = spec("mute", fake("mute", "--lines", 2), [port], ["first"])
    run = in_thread([first, mute], ready_timeout=1.0)
    started = time.monotonic()
    assert run.wait() == SERVICE_FAILED_BASE + 2
    assert time.monotonic() - started < 8
    assert (f"jbuild: error: service mute (//t:mute) not ready after 1 s (waited for port {port} to accept a "
            "connection); its last lines:") in run.out.text
    assert "    mute | line 1" in run.out.text
    assert record.read_text() == "stopped first\n" and gone(pids(run.out)[1])


def test_a_failing_health_command_times_out_naming_it(in_thread):
    run = in_thread([spec("sick", fake("sick"), health="test -e never-there")], ready_timeout=0.6)
    assert run.wait() == SERVICE_FAILED_BASE + 1
    assert "not ready after 0.6 s (waited for its health command `test -e never-there` to exit 0)" in run.out.text


def test_a_passing_health_command_makes_it_ready(in_thread):
    run = in_thread([spec("ok", fake("ok", "--lines", 1), health="echo > touched")])
    run.out.wait_for("ok is ready")
    assert run.finish() == 0


def test_a_port_taken_by_another_process_is_not_mistaken_for_readiness(in_thread):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        run = in_thread([spec("db", fake("db"), [port])])
        assert run.wait() == SERVICE_FAILED_BASE + 1
    assert f"db (//t:db) cannot start: port {port} is already in use by another process" in run.out.text
    assert "starting db" not in run.out.text


def test_a_missing_command_is_reported(in_thread, tmp_path):
    run = in_thread([spec("ghost", [str(tmp_path / "no-such-binary")])])
    assert run.wait() == SERVICE_FAILED_BASE + 1
    assert f"service ghost (//t:ghost) cannot start: {tmp_path}/no-such-binary is not an executable file" in run.out.text


def test_a_one_shot_consumer_that_exits_0_ends_the_run(in_thread, tmp_path):
    record, port = tmp_path / "stopped.txt", free_port()
    db = spec("db", fake("db", "--port", port, "--record", record), [port])
    job = spec("job", fake("job", "--die-after", 0.1, "--code", 0), [], ["db"])
    run = in_thread([db, job])
    assert run.wait() == 0
    assert "jbuild: job finished (exit code 0)" in run.out.lines and record.read_text() == "stopped db\n"


@pytest.mark.parametrize("specs, message", [
    ([spec("a", ["x"], requires=["b"]), spec("b", ["x"], requires=["a"])],
     "services require each other in a cycle: a -> b -> a"),
    ([spec("a", [])], "service a (//t:a) has an empty command"),
    ([spec("a", ["x"], requires=["nope"])], "service a (//t:a) requires 'nope', which is not a service of this run"),
    ([spec("a", ["x"]), dataclasses.replace(spec("a", ["y"]), label="//u:a")], "two services are named 'a': //t:a and //u:a"),
])
def test_bad_service_graphs_are_bad_input(specs, message, tmp_path):
    with pytest.raises(BadInput, match=re.escape(message)):
        run_services(specs, str(tmp_path), Lines())


def test_start_order_is_topological_and_stable():
    specs = [spec("web", ["x"], requires=["cache", "db"]), spec("cache", ["x"], requires=["db"]), spec("db", ["x"]),
             spec("worker", ["x"], requires=["db"])]
    assert [s.name for s in start_order(specs)] == ["db", "cache", "web", "worker"]


def test_run_program_passes_the_exit_code_through(tmp_path):
    assert run_program(["sh", "-c", 'test "$1" = two && test "$V" = 1 && exit 7', "sh", "two"], {"V": "1"}, str(tmp_path)) == 7
    assert run_program(["sh", "-c", "kill -9 $$"], {}, None) == 128 + 9
    with pytest.raises(BadInput, match="cannot run /no/such/prog: No such file or directory"):
        run_program(["/no/such/prog"], {}, None)
