"""Validation findings: each names the file, row, column, value and rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
#: Row findings listed per load; past this they are counted, not kept, so a file with
#: an error on each of 400,000 rows costs a bounded report (and page, and response).
MAX_FINDINGS = 1000


@dataclass(frozen=True)
class Finding:
    file: str
    row: int | None  # 1-based line in the file (the header is row 1); None for the whole file
    column: str | None
    value: str | None
    rule: str
    severity: Severity = "error"
    # A plausibility check's finding also says which check it is and what it is about
    # (kpis.ingest.plausibility); the rule says the same in words.
    check: str | None = None
    force: str | None = None  # slug
    measure: str | None = None
    period: str | None = None  # YYYY-MM

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        value = "" if self.value is None else f" value {self.value!r}:"
        return f"{self.severity}: {', '.join(where)}:{value} {self.rule}"


@dataclass
class Report:
    """Everything found while reading a set of files, and what was ignored."""

    findings: list[Finding] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    # Things read and how many, for the load's summary (rows kept, N/A cells, ...).
    counted: dict[str, int] = field(default_factory=dict)
    # Findings past MAX_FINDINGS, by severity: counted only.
    unlisted: dict[str, int] = field(default_factory=dict)

    def error(self, file: str, row: int | None, column: str | None, value: object,
              rule: str) -> None:
        self._add(Finding(file, row, column, _text(value), rule, "error"))

    def warning(self, file: str, row: int | None, column: str | None, value: object,
                rule: str) -> None:
        self._add(Finding(file, row, column, _text(value), rule, "warning"))

    def add(self, finding: Finding) -> None:
        """A finding made whole elsewhere (a plausibility check's, with its subject)."""
        self._add(finding)

    def _add(self, finding: Finding) -> None:
        # A finding about a whole file or sheet (a summary such as "5 more rows from row
        # 1002 on") is always listed: there are few, one per rule and sheet at most.
        if len(self.findings) < MAX_FINDINGS or finding.row is None:
            self.findings.append(finding)
        else:
            self.unlisted[finding.severity] = self.unlisted.get(finding.severity, 0) + 1

    def mark(self) -> tuple[int, dict[str, int]]:
        """Where the report is now, for :meth:`rewind`."""
        return len(self.findings), dict(self.unlisted)

    def rewind(self, mark: tuple[int, dict[str, int]]) -> None:
        """Forget every finding since ``mark`` (listed or counted)."""
        del self.findings[mark[0]:]
        self.unlisted = dict(mark[1])

    @property
    def error_count(self) -> int:
        """Every error found, listed or not."""
        return len(self.errors) + self.unlisted.get("error", 0)

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + self.unlisted.get("warning", 0)

    @property
    def unlisted_note(self) -> str:
        """'... and 399,000 more errors, not listed (the first 1,000 findings are)'."""
        errors, warnings = self.unlisted.get("error", 0), self.unlisted.get("warning", 0)
        if not errors and not warnings:
            return ""
        parts = [f"{n:,} more {what}" for n, what in ((errors, "error(s)"),
                                                     (warnings, "warning(s)")) if n]
        return (f"... and {' and '.join(parts)}, not listed (the first "
                f"{MAX_FINDINGS:,} findings are)")

    def ignore(self, what: str, count: int = 1) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + count

    def count(self, what: str, count: int = 1) -> None:
        self.counted[what] = self.counted.get(what, 0) + count

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def summary(self) -> str:
        lines = [str(f) for f in self.findings]
        lines += [self.unlisted_note] if self.unlisted_note else []
        lines += [f"ignored: {count} row(s) {what}" for what, count in sorted(self.ignored.items())]
        lines += [f"read: {count} {what}" for what, count in sorted(self.counted.items())]
        return "\n".join(lines)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(value)


class LoadRefused(ValueError):
    """Validation found errors; nothing was written."""

    def __init__(self, report: Report) -> None:
        self.report = report
        errors = report.errors
        lines = "\n".join(f"  {f}" for f in errors[:200])
        hidden = report.error_count - min(len(errors), 200)
        more = f"\n  ... and {hidden:,} more" if hidden > 0 else ""
        super().__init__(
            f"load refused, nothing was written: {report.error_count:,} error(s)\n"
            f"{lines}{more}"
        )
