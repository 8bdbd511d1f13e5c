"""The PDF writer of a board pack: the pack as HTML (:mod:`.html`), printed by Chromium
as a tagged PDF (see :func:`kpis.exports.render.print_pdf` for why), then given its
author, subject and keywords with pypdf (Chromium sets the title and language only)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from kpis.exports.packs.html import footer_template, header_template, pack_html
from kpis.exports.packs.plan import PackContent


def write_pdf(content: PackContent, out: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    from kpis.exports.render import print_pdf

    with tempfile.TemporaryDirectory(prefix="flightdeck-pdf-") as folder:
        page = Path(folder) / "pack.html"
        page.write_text(pack_html(content, content.icons or None), encoding="utf-8")
        printed = print_pdf(page, header=header_template(content),
                            footer=footer_template(content))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(printed)))
    writer.add_metadata({"/Author": content.author, "/Subject": content.subject,
                         "/Keywords": f"{content.marking}; RASSO; NOM flight deck"
                                      + ("; demonstration data" if content.demo else "")})
    with open(out, "wb") as handle:
        writer.write(handle)

