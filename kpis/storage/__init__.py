"""Storage: the schema, the write path, readers, the dataset loader, annotations,
users and the audit log. The one place that speaks SQL.
"""
