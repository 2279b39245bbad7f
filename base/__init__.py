"""The bottom floor: file-system facts and helpers that both the language (jbuild.dsl) and the
engine (jbuild.engine) stand on. Imports only the standard library and xxhash."""

__version__ = "0.1.0"  # jbuild's version: caches written by another version are not trusted
