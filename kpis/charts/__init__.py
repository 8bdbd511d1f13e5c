"""Charts: pure figure builders (:mod:`.figures`) and, for each chart, the one spec
(:mod:`.specs`) that gives its figure, title, subtitle, source line and summary.

Used alike by the pages, the download route, ``flightdeck chart`` and the packs.
"""
