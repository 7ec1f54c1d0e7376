"""The XML around the data: VOTABLE/RESOURCE/TABLE/FIELD elements, escaped."""

from __future__ import annotations

import re
from typing import Any

from jupyter_samp.data.codecs._fields import Field
from jupyter_samp.errors import InvalidValueError

_PROLOGUE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://www.ivoa.net/xml/VOTable/v1.3'
    ' http://www.ivoa.net/xml/VOTable/VOTable-1.4.xsd">\n'
    '<RESOURCE type="results">\n'
)
_DATA_OPEN = {
    "binary2": '<DATA>\n<BINARY2>\n<STREAM encoding="base64">\n',
    "binary": '<DATA>\n<BINARY>\n<STREAM encoding="base64">\n',
    "tabledata": "<DATA>\n<TABLEDATA>\n",
}
_DATA_CLOSE = {
    "binary2": "</STREAM>\n</BINARY2>\n</DATA>\n",
    "binary": "</STREAM>\n</BINARY>\n</DATA>\n",
    "tabledata": "</TABLEDATA>\n</DATA>\n",
}
_EPILOGUE = "</TABLE>\n</RESOURCE>\n</VOTABLE>\n"

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
# In attributes, parsers turn raw tabs and newlines into spaces: escape them too.
_ATTR_ESCAPES = dict(_TEXT_ESCAPES, **{'"': "&quot;", "\n": "&#10;", "\t": "&#9;"})
_TEXT_RE = re.compile("[&<>\r]")
_ATTR_RE = re.compile('[&<>\r"\n\t]')


def _checked(value: str, what: str) -> str:
    """Refuse text XML cannot represent.

    Raises
    ------
    InvalidValueError
        ``value`` contains a control character (other than tab, newline,
        carriage return), an unpaired surrogate, U+FFFE or U+FFFF.
    """
    bad = _NOT_XML.search(value)
    if bad:
        raise InvalidValueError(f"{what} {value!r} contains {bad.group()!r}, which XML cannot hold")
    return value


def escape_text(value: str, what: str = "text") -> str:
    """Escape ``value`` for element content (see :func:`_checked` for errors)."""
    return _TEXT_RE.sub(lambda m: _TEXT_ESCAPES[m.group()], _checked(value, what))


def escape_attr(value: str, what: str = "attribute") -> str:
    """Escape ``value`` for a double-quoted attribute (see :func:`_checked` for errors)."""
    return _ATTR_RE.sub(lambda m: _ATTR_ESCAPES[m.group()], _checked(value, what))


def _attributes(pairs: list[tuple[str, str | None]], what: str) -> str:
    return "".join(f' {key}="{escape_attr(value, what)}"' for key, value in pairs if value)


def field_element(field: Field) -> str:
    """The ``<FIELD>`` element of one column (with DESCRIPTION and VALUES if any)."""
    source = field.source
    what = f"metadata of column {source.name!r}"
    attrs = [("name", source.name), ("datatype", field.datatype), ("arraysize", field.arraysize)]
    xtype = source.xtype or ("timestamp" if source.kind == "datetime" else None)
    attrs += [("unit", source.unit), ("ucd", source.ucd), ("xtype", xtype)]
    # name is required even when empty; the others are left out when empty.
    head = f'<FIELD name="{escape_attr(source.name, "column name")}"'
    head += _attributes(attrs[1:], what)
    inner = ""
    if source.description:
        inner += f"<DESCRIPTION>{escape_text(source.description, what)}</DESCRIPTION>"
    if field.null is not None:
        inner += f'<VALUES null="{field.null}"/>'
    return f"{head}>{inner}</FIELD>\n" if inner else f"{head}/>\n"


def document_parts(plan: Any) -> tuple[bytes, bytes]:
    """Everything before and after the rows of ``plan``, UTF-8 encoded.

    Raises
    ------
    InvalidValueError
        A name or description holds characters XML cannot carry.
    """
    table = "<TABLE" + _attributes([("name", plan.name)], "table name")
    table += f' nrows="{plan.nrows}">\n'
    if plan.description:
        table += f"<DESCRIPTION>{escape_text(plan.description, 'table description')}"
        table += "</DESCRIPTION>\n"
    fields = "".join(field_element(field) for field in plan.fields)
    head = _PROLOGUE + table + fields + _DATA_OPEN[plan.serialization]
    tail = _DATA_CLOSE[plan.serialization] + _EPILOGUE
    return head.encode("utf-8"), tail.encode("utf-8")
