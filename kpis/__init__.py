"""The NOM flight deck, everything but the web pages (see docs/ARCHITECTURE.md).

Layers, each importing only those below it (an import contract in the test command
enforces it): ``cli`` > ``service`` > ``exports`` > ``charts`` | ``ingest`` >
``storage`` > ``engine`` > ``domain`` > ``settings`` and ``cache``. Nothing here
imports Dash, Flask, ``layouts``, ``web`` or ``app``.
"""

import time as _time

#: When this process first imported the package: a source file changed after it means
#: the process runs older code than the files hold (kpis.exports.stored_kpi_csv).
LOADED_AT = _time.time()
