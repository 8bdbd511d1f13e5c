"""The NOM flight deck, everything but the web pages (see docs/ARCHITECTURE.md).

Layers, each importing only those below it (an import contract in the test command
enforces it): ``cli`` > ``service`` > ``exports`` > ``charts`` | ``ingest`` >
``storage`` > ``engine`` > ``domain`` > ``settings`` and ``cache``. Nothing here
imports Dash, Flask, ``layouts``, ``web`` or ``app``.
"""
