"""The services package's `prepare` stays the function once its implementation module is
imported (a submodule named `prepare` replaced it, so a second `jbuild run` in one process —
watch mode's restart — got a module)."""

import importlib
import inspect


def test_prepare_is_the_function_after_its_module_is_imported():
    services = importlib.import_module("jbuild.engine.services")
    importlib.import_module("jbuild.engine.services.preparation")
    from jbuild.engine.services import prepare

    assert inspect.isfunction(prepare) and inspect.isfunction(services.prepare)
    assert "target" in inspect.signature(prepare).parameters
