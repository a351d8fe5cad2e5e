"""`watchdog run`: the scheduler, its state file, politeness, maintenance windows, the listener.

May import every layer below it (`domain`, `config`, `engine`, `store`, `metrics`, `notify`).
"""
