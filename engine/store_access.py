"""Opening the store a command means, inside a workspace or outside one."""

from __future__ import annotations

from jbuild.dsl.errors import RecipeError
from jbuild.dsl.workspace import Workspace

from .settings import Options, store_path
from .store import Store


def open_store(path: str | None) -> Store:
    try:
        ws = Workspace.find()
    except RecipeError:
        ws = None
    return Store(store_path(ws, Options(store=path)))

