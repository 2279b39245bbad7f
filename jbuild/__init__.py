"""jbuild: declarative builds that never rebuild what a change cannot affect."""

__version__ = "0.1.0"
