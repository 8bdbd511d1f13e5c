"""Getting data in: force monthly returns and Home Office open data.

Every file is read and validated in full before anything is written; a load is all
files or none, audited, and published atomically (see ``kpis.storage.duckdb_file``).
"""
