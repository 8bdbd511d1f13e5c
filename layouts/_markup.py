"""Markup for a page's static blocks, built on the server with every value escaped.

A tile, table or matrix row drawn as Dash components costs the browser's renderer a
component per element (the speed issue: 448 on the flight deck). As one block of
markup (:class:`layouts._html_block.HtmlBlock`) it costs one. :func:`tag` builds an
element: text children and attribute values are escaped as MarkupSafe escapes them, so
text from the catalogue, an analyst's file or a comment can never become markup; only
:class:`markupsafe.Markup` (what :func:`tag` returns) passes through unescaped.

Attribute names: ``class_`` is ``class``; other underscores become hyphens
(``aria_label`` is ``aria-label``, ``data_link`` is ``data-link``); None and False
leave the attribute out, True writes it bare.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup

__all__ = ["Markup", "join", "link", "tag"]

# Elements with no closing tag.
VOID = frozenset({"img", "br", "hr", "input", "wbr"})

Child = str | Markup | None | Iterable[Any]


def _escaped(text: str) -> str:
    """``text`` escaped as MarkupSafe's ``escape`` escapes it (the same five characters,
    the same entities; tests/test_live_view.py compares the two), as plain text: only a
    whole element is made a Markup. ``escape`` makes a Markup of every piece, through
    Markup's Python constructor: most of the cost of a table's cells."""
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&#34;").replace("'", "&#39;"))
    return text


def _markup(text: str) -> Markup:
    """``text``, already escaped element by element, as Markup (str's own constructor:
    Markup adds nothing to a str it is given)."""
    return str.__new__(Markup, text)


@functools.cache  # the names are the code's own: a few dozen
def _attribute(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _value(value: Any) -> str:
    """An attribute's value escaped, as ``escape`` would (markup as it is)."""
    if isinstance(value, Markup):
        return value
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return _escaped(value if isinstance(value, str) else str(value))


def _children(children: Iterable[Any]) -> str:
    out: list[str] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str):  # markup already (a tag's) as it is, text escaped
            out.append(child if isinstance(child, Markup) else _escaped(child))
        elif isinstance(child, Iterable):
            out.append(_children(child))
        else:
            out.append(_escaped(str(child)))
    return "".join(out)


def tag(name: str, *children: Child, **attributes: Any) -> Markup:
    """``<name attributes>children</name>``, every text and value escaped."""
    # A page's first view builds some thousand of these (the flight deck's tiles and
    # matrix rows, the KPI page's tables): one string built, one Markup made, per element.
    start = "<" + name
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        attribute = _attribute(key)
        start += " " + attribute if value is True else f' {attribute}="{_value(value)}"'
    if name in VOID:
        return _markup(start + ">")
    return _markup(f"{start}>{_children(children)}</{name}>")


def link(text: Child, href: str, **attributes: Any) -> Markup:
    """A link within the app: navigates without a reload, as a dcc.Link does
    (assets/05-html-block.js)."""
    return tag("a", text, href=href, data_link=True, **attributes)


def join(parts: Iterable[Child]) -> Markup:
    """Several pieces as one block of markup."""
    return _markup(_children(parts))
