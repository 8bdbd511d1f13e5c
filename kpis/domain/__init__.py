"""The domain: the catalogue model, periods, access rules, vocabulary and formatting.

Imports nothing else of the project but :mod:`kpis.settings`: every other layer
builds on these words and types.
"""
