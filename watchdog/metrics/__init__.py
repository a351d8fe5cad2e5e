"""Prometheus metrics: the registry of the families (names and labels are a contract with the
dashboards and rules) and their text exposition. May import `domain`, `config` and `store`.
"""
