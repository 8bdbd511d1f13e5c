"""Exports: charts as images and CSV, and board packs (PowerPoint, PDF, Word).

Never imports Dash. Figures come from :mod:`layouts._figures`, whose builders are pure
(numpy, pandas and plotly.io only).
"""
