"""The `watchdog` command line: one module per verb or group of verbs, imported only when run.

The top of the import graph: may import any layer; nothing imports it.
"""
