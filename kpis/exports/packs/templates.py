"""A force's own PowerPoint or Word template, opened for a pack to be written on.

python-pptx and python-docx open presentations and documents, not templates: a
``.potx``/``.dotx`` differs from a ``.pptx``/``.docx`` only in its main part's content
type, so a template is copied with that one entry changed. Whatever slides or body a
template holds are removed; its masters, layouts, styles, headers and footers stay.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["TEMPLATE_SUFFIXES", "TemplateError", "open_docx", "open_pptx"]

TEMPLATE_SUFFIXES = {"pptx": (".pptx", ".potx"), "docx": (".docx", ".dotx")}
#: A template larger than this is refused (a force's template is a few megabytes).
MAX_TEMPLATE_BYTES = 50 * 1024 * 1024
_MAIN = {
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
}


class TemplateError(ValueError):
    """A template file that cannot be used, in words."""


def _as_document(path: Path, kind: str) -> io.BytesIO:
    """The file's bytes, a template's main content type made a document's."""
    path = Path(path)
    if path.suffix.lower() not in TEMPLATE_SUFFIXES[kind]:
        raise TemplateError(f"{path.name}: a {kind.upper()} pack's template must be one of "
                            f"{', '.join(TEMPLATE_SUFFIXES[kind])}")
    if not path.is_file():
        raise TemplateError(f"{path}: no such file")
    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"{path.name}: larger than {MAX_TEMPLATE_BYTES // 2**20} MB")
    template, document = _MAIN[kind]
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w",
                                                              zipfile.ZIP_DEFLATED) as copy:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "[Content_Types].xml":
                    data = re.sub(re.escape(template).encode(), document.encode(), data)
                copy.writestr(item, data)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise TemplateError(f"{path.name}: not a {kind.upper()} file ({exc})") from exc
    out.seek(0)
    return out


def open_pptx(path: Path) -> Any:
    """A presentation from a ``.pptx`` or ``.potx`` template, with no slides."""
    from pptx import Presentation

    try:
        deck = Presentation(_as_document(path, "pptx"))
    except TemplateError:
        raise
    except Exception as exc:  # python-pptx raises many kinds for a bad package
        raise TemplateError(f"{Path(path).name}: PowerPoint cannot use it ({exc})") from exc
    slides = deck.slides._sldIdLst  # python-pptx has no public way to delete a slide
    for slide_id in list(slides):
        deck.part.drop_rel(slide_id.rId)
        slides.remove(slide_id)
    return deck


def open_docx(path: Path) -> Any:
    """A document from a ``.docx`` or ``.dotx`` template, its body emptied."""
    from docx import Document
    from docx.oxml.ns import qn

    try:
        document = Document(_as_document(path, "docx"))
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"{Path(path).name}: Word cannot use it ({exc})") from exc
    body = document.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    return document
