"""The upload page's file check and load, as background jobs (:mod:`kpis.jobs`).

The web app stages the uploaded files in a private folder and submits these functions;
they run in the job's child process, as the person who uploaded (their role and force
scope apply exactly as on the page, through :class:`kpis.service.FlightDeckService`),
and return what the page shows, as JSON values. :func:`checked_report` turns a check's
result back into the :class:`Report` it came from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kpis.domain.access import AccessDenied, Principal
from kpis.ingest.loader import Progress, describe
from kpis.ingest.problems import Finding, LoadRefused, Report
from kpis.service import FlightDeckService
from kpis.settings import MailConfig, as_location
from kpis.subscriptions import SENT, WRITTEN, after_load

#: A load job's outcomes.
LOADED, REFUSED, DENIED = "loaded", "refused", "denied"


@dataclasses.dataclass(frozen=True)
class UploadJob:
    """Who uploaded which files, into which database: everything a job needs."""

    db_path: str
    security_path: str
    principal: Principal
    address: str
    files: tuple[str, ...]
    # How subscribed board packs are sent after a load (None: they are not).
    mail: MailConfig | None = None

    def service(self) -> FlightDeckService:
        return FlightDeckService(as_location(self.db_path), self.principal, self.address,
                                 security_path=as_location(self.security_path))

    @property
    def paths(self) -> list[Path]:
        return [Path(f) for f in self.files]


def check_job(progress: Progress, job: UploadJob) -> dict[str, Any]:
    """Validate the files without writing: the report, what each file held and the
    preview of what loading them would change (``preview``: see
    :meth:`kpis.ingest.preview.LoadPreview.to_json`)."""
    service = job.service()
    try:
        preview = service.preview_load(job.paths, progress=progress)
    finally:
        _close(service)
    report = preview.report
    return {
        "findings": [dataclasses.asdict(f) for f in report.findings],
        "ignored": report.ignored,
        "counted": report.counted,
        "unlisted": report.unlisted,
        "files": [describe(item) for item in preview.files],
        "preview": preview.to_json(),
    }


def checked_report(result: dict[str, Any]) -> Report:
    """The report a :func:`check_job` result holds."""
    return Report([Finding(**finding) for finding in result["findings"]],
                  dict(result["ignored"]), dict(result["counted"]),
                  dict(result.get("unlisted", {})))


def load_job(progress: Progress, job: UploadJob) -> dict[str, Any]:
    """Load the files, all or none, through the one write path (audited there); then
    send the board packs the load made due (a mail failure is logged and audited there,
    never a failed load)."""
    service = job.service()
    try:
        result = service.load(job.paths, progress=progress)
        mailed = after_load(service, job.mail, progress)
    except AccessDenied as refusal:
        return {"outcome": DENIED, "message": str(refusal)}
    except LoadRefused as refused:
        return {"outcome": REFUSED, "errors": refused.report.error_count}
    finally:
        _close(service)
    return {
        "outcome": LOADED,
        "load_ids": result.load_ids,
        "observations": result.observations,
        "files": len(result.files),
        "revised": sum(len(item.revisions) for item in result.files),
        "packs_sent": sum(outcome.status in (SENT, WRITTEN) for outcome in mailed),
    }


def _close(service: FlightDeckService) -> None:
    # The child is kept for the next job: leave no connection open between jobs.
    service.reader.close()
    service.security.close()
