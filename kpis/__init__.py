"""The NOM flight deck domain: store, catalogue, ingest, measures and SPC.

Nothing in this package imports Dash: every number the dashboard, an export or the
CLI shows is computed here.
"""
