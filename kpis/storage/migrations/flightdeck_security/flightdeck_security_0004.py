"""The users and audit database at schema 4: the first version kept in PostgreSQL.

A database is created at this version by its first write (kpis.storage.postgres), so
this baseline has nothing to run. A later version adds a revision whose upgrade runs
the schema's own step: ``security.SECURITY_SCHEMA.upgrades[4](op.get_bind())``.
"""

revision = "flightdeck_security_0004"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
