"""The audit log's vocabulary: its event names, and the error a user command raises.

Kept out of :mod:`kpis.storage.security` (which re-exports them) so that the command
line can name them in its options without importing the database layer: ``flightdeck
--help`` must not load SQLAlchemy and pandas.
"""

from __future__ import annotations

# The audit log's event names.
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in failed"
SIGN_IN_THROTTLED = "sign-in throttled"
SIGN_OUT = "sign-out"
LOAD = "load"
LOAD_REFUSED = "load refused"
ROLLBACK = "rollback"
EXPORT = "export"
USER_ADDED = "user added"
USER_REMOVED = "user removed"
PASSWORD_SET = "password set"
ROLE_SET = "role set"
ACCESS_DENIED = "access denied"
# Reference data an administrator loads: NOM adoption months, population estimates.
REFERENCE = "reference data"
REFERENCE_REFUSED = "reference data refused"
# Board pack subscriptions (kpis.subscriptions): changes, each pack sent, each failure.
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
PACK_SENT = "pack sent"
PACK_NOT_SENT = "pack not sent"
# KPI definitions edited in the dashboard: a draft saved, a draft published.
DEFINITION_DRAFTED = "definition drafted"
DEFINITION_PUBLISHED = "definition published"
CATALOGUE_EXPORTED = "catalogue exported"
# API tokens for the data feeds (web/feeds.py): made, revoked, each feed request and
# each refused token.
TOKEN_CREATED = "token created"
TOKEN_REVOKED = "token revoked"
FEED = "feed"
FEED_REFUSED = "feed refused"
# Accounts an administrator disables (no sign-in, sessions ended, API tokens refused)
# and enables again (the accounts page, layouts/accounts.py).
USER_DISABLED = "user disabled"
USER_ENABLED = "user enabled"
# A whole database copied in (flightdeck copy: a laptop's file to the national server or
# back), and a schema migrated (flightdeck migrate): recorded in the target's audit log.
DATABASE_COPIED = "database copied"
DATABASE_MIGRATED = "database migrated"
# Audit rows older than the retention setting deleted (flightdeck audit prune).
AUDIT_PRUNED = "audit pruned"
# Annotations: a KPI's commentary written, a recommendation's progress recorded.
COMMENTARY_WRITTEN = "commentary written"
PROGRESS_RECORDED = "progress recorded"
EVENTS: tuple[str, ...] = (SIGN_IN, SIGN_IN_FAILED, SIGN_IN_THROTTLED, SIGN_OUT, LOAD,
                           LOAD_REFUSED, ROLLBACK, EXPORT, USER_ADDED, USER_REMOVED,
                           PASSWORD_SET, ROLE_SET, ACCESS_DENIED, REFERENCE,
                           REFERENCE_REFUSED, SUBSCRIBED, UNSUBSCRIBED, PACK_SENT,
                           PACK_NOT_SENT, DEFINITION_DRAFTED, DEFINITION_PUBLISHED,
                           CATALOGUE_EXPORTED, TOKEN_CREATED, TOKEN_REVOKED, FEED,
                           FEED_REFUSED, USER_DISABLED, USER_ENABLED, DATABASE_COPIED,
                           DATABASE_MIGRATED, AUDIT_PRUNED, COMMENTARY_WRITTEN,
                           PROGRESS_RECORDED)
#: The formats a subscription may ask for (kpis.exports.packs writes them).
SUBSCRIPTION_FORMATS: tuple[str, ...] = ("pptx", "pdf", "docx")


class UserError(ValueError):
    """A user command could not be done (the message says why)."""
