"""Storage: the schema and its versions, the store seam (``backend.open_store``) and
its DuckDB implementation (the write path and readers), the dataset loader,
annotations, users and the audit log. The one place that speaks SQL (docs/storage.md).
"""
