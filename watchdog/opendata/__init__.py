"""Open data: one row per observation, daily aggregates, the data dictionary, as CSV, Parquet
or SQLite. May import `domain`, `config`, `store`, `stats` and `dashboards` (département names).
"""
