"""`jbuild env` refuses options it would accept and then ignore (exit 2, a usage error that
says why), instead of running without them."""

import pytest
from helpers import run_jbuild


@pytest.mark.parametrize("args, said", [
    (["remove", "web", "//db:tinydb", "--channel", "stable"], "env remove takes no --channel: it adds nothing"),
    (["create", "web", "//db:tinydb", "--channel", "stable", "--remote-upload"],
     "--remote-upload uploads what a build makes, and with --channel nothing is built"),
    (["install", "web", "//db:tinydb", "--channel", "stable", "--remote-upload"], "with --channel nothing is built"),
    (["remove", "web"], "Missing argument 'TARGETS...'"),
])
def test_an_option_that_would_be_ignored_is_a_usage_error(tmp_path, args, said):
    store = tmp_path / "store"
    r = run_jbuild("env", *args, cwd=tmp_path, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert said in r.stderr and "Traceback" not in r.stderr
    assert not (store / "envs").exists()  # refused before anything was done


def test_help_offers_channel_only_where_it_is_used(tmp_path):
    assert "--channel" not in run_jbuild("env", "remove", "--help", cwd=tmp_path).stdout
    assert "--channel" in run_jbuild("env", "install", "--help", cwd=tmp_path).stdout
