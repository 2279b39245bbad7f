"""The build engine: resolve -> graph -> keys -> schedule -> sandbox -> store.

Consumes jbuild.dsl's typed targets; never imported by jbuild.dsl.
"""
