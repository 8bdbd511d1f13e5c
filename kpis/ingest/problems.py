"""Validation findings: each names the file, row, column, value and rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    file: str
    row: int | None  # 1-based line in the file (the header is row 1); None for the whole file
    column: str | None
    value: str | None
    rule: str
    severity: Severity = "error"

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

    def error(self, file: str, row: int | None, column: str | None, value: object,
              rule: str) -> None:
        self.findings.append(Finding(file, row, column, _text(value), rule, "error"))

    def warning(self, file: str, row: int | None, column: str | None, value: object,
                rule: str) -> None:
        self.findings.append(Finding(file, row, column, _text(value), rule, "warning"))

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
        more = f"\n  ... and {len(errors) - 200} more" if len(errors) > 200 else ""
        super().__init__(
            f"load refused, nothing was written: {len(errors)} error(s)\n{lines}{more}"
        )
