"""The engine: the in-memory cube, KPI arrays, the flight-deck table, SPC, funnel
limits, disclosure control, views and plain-English summaries.

Pure computation over a :class:`kpis.engine.dataset.Dataset`: no SQL, no files, no web.
"""
