"""The flight deck database at schema 7: the first version kept in PostgreSQL.

A database is created at this version by its first write (kpis.storage.postgres), so
this baseline has nothing to run. A later version adds a revision whose upgrade runs
the schema's own step: ``schema.FLIGHT_DECK.upgrades[7](op.get_bind())``.
"""

revision = "flightdeck_0007"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
