"""The keys of the ``meta`` table every database records, in a module of its own (no
SQLAlchemy) so that a writer with DuckDB alone (``kpis.storage.audit_append``) uses the
same ones. ``kpis.storage.backend`` re-exports them."""

from __future__ import annotations

__all__ = ["ANNOTATION_VERSION_KEY", "CATALOGUE_DIGEST_KEY", "DATA_VERSION_KEY",
           "DERIVED_PREFIX", "SCHEMA_VERSION_KEY"]

SCHEMA_VERSION_KEY = "schema_version"
#: Bumped by every write of the data (loads, rollbacks, catalogue, reference data): a
#: reader rebuilds its in-memory dataset when it changes.
DATA_VERSION_KEY = "data_version"
#: Bumped instead by a write of annotations only (commentary, recommendation progress):
#: pages showing them are drawn again, the dataset is kept.
ANNOTATION_VERSION_KEY = "annotation_version"
#: A digest of the catalogue as stored (kpis.storage.catalogue_store): readers keep the
#: catalogue they read under it. Removed by anything else that changes those tables.
CATALOGUE_DIGEST_KEY = "catalogue_digest"
#: The prefix of tables a DuckDB file holds that the schema does not declare: worked out
#: from the rest by a layer above the store and made again whenever it changes
#: (``kpis.exports.stored_kpi_csv``). An upgrade leaves them behind, as a copy to
#: another store does.
DERIVED_PREFIX = "derived_"
