"""Exports: rendering figures to files, CSV writers, and board packs (a content plan
and one writer per format).
"""
