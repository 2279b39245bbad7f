"""jbuild: declarative builds that never rebuild what a change cannot affect."""

from jbuild.base import __version__

__all__ = ["__version__"]
