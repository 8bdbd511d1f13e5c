"""The presentation: Dash Pages (one module per page) and shared layout helpers.

Helper modules start with an underscore so that Dash Pages does not import them as
pages. Callbacks format and arrange numbers; they never compute them (``kpis`` does).
"""
