"""The jbuild recipe language: grammar, typed model, labels, workspace loading, errors.

Knows nothing of the engine. The engine consumes `load_workspace(...)`'s typed targets.
"""
