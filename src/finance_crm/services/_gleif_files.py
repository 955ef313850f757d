"""Reading GLEIF files record by record: XML with ``iterparse``, JSON with
``raw_decode``, from a path, a file object or a ``.zip`` (see ``gleif_import``).

Each record comes out as plain dicts and lists (XML elements turned into the JSON
files' shape), so the import maps one shape whatever the format.
"""

from __future__ import annotations

import codecs
import datetime
import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, TypeAlias
from xml.etree import ElementTree
from xml.parsers import expat

import attrs

from finance_crm.errors import ValidationError

__all__ = [
    "ENTITIES",
    "EXCEPTIONS",
    "RELATIONSHIPS",
    "GleifSource",
    "day",
    "get",
    "items",
    "records",
    "text",
]

GleifSource: TypeAlias = str | os.PathLike[str] | IO[bytes] | IO[str]
"""A path, or an open binary or text file (which the import reads but does not close)."""

_CHUNK = 1 << 16
_MAX_RECORD_CHARS = 16 << 20


@attrs.frozen
class _Kind:
    label: str
    namespace: str
    root: str
    record: str
    json_key: str
    argument: str


ENTITIES = _Kind(
    "LEI-CDF entity", "http://www.gleif.org/data/schema/leidata/2016", "LEIData", "LEIRecord",
    "LEI", "entities",
)  # fmt: skip
RELATIONSHIPS = _Kind(
    "RR-CDF relationship", "http://www.gleif.org/data/schema/rr/2016", "RelationshipData",
    "RelationshipRecord", "Relationship", "relationships",
)  # fmt: skip
EXCEPTIONS = _Kind(
    "reporting exception", "http://www.gleif.org/data/schema/repex/2016",
    "ReportingExceptionData", "Exception", "ExceptionCategory", "exceptions",
)  # fmt: skip


def _malformed(kind: _Kind, file: str, message: str) -> ValidationError:
    return ValidationError(f"{file}: {message}", path=f"$.{kind.argument}")


class _Replay:
    """A stream that first returns what was already read from ``rest``."""

    def __init__(self, head: bytes | str, rest: IO[Any]) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int | None = -1) -> Any:  # bytes or str, as the source gives
        if self._head:
            head, self._head = self._head, self._head[:0]
            return head
        return self._rest.read(_CHUNK if size is None or size < 0 else size)


def _blank(head: bytes | str) -> bool:
    if isinstance(head, bytes):
        return not head.removeprefix(b"\xef\xbb\xbf").strip()
    return not head.lstrip("\ufeff").strip()


def records(source: GleifSource, kind: _Kind) -> Iterator[tuple[str, int, Any]]:
    """(file name, record number from 1, the record as plain dicts and lists)."""
    with ExitStack() as stack:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            name = path.name
            try:
                stream: IO[Any] = stack.enter_context(path.open("rb"))
            except OSError as exc:
                raise _malformed(kind, name, f"cannot be read ({exc.strerror})") from None
        elif callable(getattr(source, "read", None)):
            stream = source
            name = Path(str(getattr(source, "name", "") or "<stream>")).name
        else:
            raise ValidationError(
                "must be a path or an open file", path=f"$.{kind.argument}"
            )  # pragma: no cover - typed away
        seekable = callable(getattr(stream, "seekable", None)) and stream.seekable()
        start = stream.tell() if seekable else 0
        head = stream.read(_CHUNK)
        while head and _blank(head):  # read on to the first character that tells the format
            more = stream.read(_CHUNK)
            if not more:
                break
            head += more
        if isinstance(head, bytes) and head.startswith(b"PK\x03\x04"):
            if not seekable:
                raise _malformed(kind, name, "is a zip archive: pass its path or a seekable file")
            yield from _zip_records(stream, start, name, kind)
            return
        text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
        first = text.lstrip("\ufeff \t\r\n")[:1]
        if first == "<":
            yield from ((name, n, r) for n, r in _xml_records(_Replay(head, stream), kind, name))
        elif first in ("[", "{"):
            yield from ((name, n, r) for n, r in _json_records(head, stream, kind, name))
        elif not first:
            raise _malformed(kind, name, "the file is empty")
        else:
            raise _malformed(kind, name, "is neither XML nor JSON (nor a zip holding one)")


def _zip_records(
    stream: IO[Any], start: int, name: str, kind: _Kind
) -> Iterator[tuple[str, int, Any]]:
    stream.seek(start)
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile:
        raise _malformed(kind, name, "is a damaged zip archive") from None
    with archive:
        members = [m for m in archive.namelist() if m.lower().endswith((".xml", ".json"))]
        if len(members) != 1:
            raise _malformed(kind, name, "must hold exactly one .xml or .json file")
        with archive.open(members[0]) as inner:
            for _, number, record in records(inner, kind):
                yield f"{name}!{members[0]}", number, record


def _plain(element: ElementTree.Element) -> Any:
    """An element as JSON-like data: text for a leaf, a dict of children by local name
    (repeated children as a list); GLEIF's geocoding Extension is left out."""
    if len(element) == 0:
        return (element.text or "").strip()
    groups: dict[str, list[Any]] = {}
    for child in element:
        key = child.tag.rpartition("}")[2]
        if key != "Extension":
            groups.setdefault(key, []).append(_plain(child))
    return {k: v[0] if len(v) == 1 else v for k, v in groups.items()}


def _xml_records(stream: _Replay, kind: _Kind, file: str) -> Iterator[tuple[int, Any]]:
    record_tag = f"{{{kind.namespace}}}{kind.record}"
    number = 0
    stack: list[ElementTree.Element] = []
    try:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            if event == "start":
                if not stack and element.tag != f"{{{kind.namespace}}}{kind.root}":
                    found = element.tag.rpartition("}")[2]
                    raise _malformed(
                        kind, file, f"expected a GLEIF {kind.label} file (root element "
                        f"{kind.root} in {kind.namespace}), found {found[:40]}",
                    )  # fmt: skip
                stack.append(element)
                continue
            stack.pop()
            if element.tag == record_tag:
                number += 1
                record = _plain(element)
                if stack:
                    stack[-1].remove(element)  # keeps memory flat over millions of records
                yield number, record
    except ElementTree.ParseError as exc:
        line, column = exc.position
        hint = "; is the file truncated?" if exc.code in _XML_ENDS_EARLY else ""
        raise _malformed(
            kind, file, f"is not well-formed XML at line {line}, column {column} "
            f"({expat.ErrorString(exc.code)}), after record {number}{hint}",
        ) from None  # fmt: skip


_XML_ENDS_EARLY = frozenset(
    expat.errors.codes[e]
    for e in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
    )
)


_SPACE = re.compile(r"[ \t\r\n]*")


class _JsonCursor:
    """Reads JSON values one at a time from a text stream held in a small buffer."""

    def __init__(self, head: bytes | str, stream: IO[Any], kind: _Kind, file: str) -> None:
        self._stream, self._kind, self._file = stream, kind, file
        self._decoder = (
            codecs.getincrementaldecoder("utf-8-sig")() if isinstance(head, bytes) else None
        )
        self._json = json.JSONDecoder()
        self.buffer, self.pos, self._lines, self._eof = "", 0, 0, False
        self._feed(head.lstrip("\ufeff") if isinstance(head, str) else head)

    def _feed(self, chunk: bytes | str) -> None:
        if isinstance(chunk, bytes) and self._decoder is not None:
            try:
                text = self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                raise self.error("the text is not UTF-8", len(self.buffer)) from None
        else:
            text = str(chunk)
        if not text:
            return  # the end: the buffer stays as it is, so error positions stay true
        self._lines += self.buffer.count("\n", 0, self.pos)
        self.buffer, self.pos = self.buffer[self.pos :] + text, 0

    def more(self) -> bool:
        if self._eof:
            return False
        # Reading as much again as is buffered keeps a long record from being re-parsed
        # once per chunk.
        chunk = self._stream.read(max(_CHUNK, len(self.buffer) - self.pos))
        self._eof = not chunk
        self._feed(chunk)
        return not self._eof

    def peek(self) -> str:
        while True:
            self.pos = _SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.more():
                return self.buffer[self.pos : self.pos + 1]

    def error(self, message: str, at: int | None = None) -> ValidationError:
        at = self.pos if at is None else at
        line = self._lines + self.buffer.count("\n", 0, at) + 1
        column = at - self.buffer.rfind("\n", 0, at)
        ends_early = self._eof and (
            not self.buffer[at:].strip() or "Unterminated string" in message
        )
        return _malformed(
            self._kind, self._file, f"is not well-formed JSON at line {line}, column {column} "
            f"({message})" + ("; is the file truncated?" if ends_early else ""),
        )  # fmt: skip

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {what}" if self.peek() else f"ends where {what} was due")
        self.pos += 1

    def value(self, what: str) -> Any:
        self.peek()
        while True:
            try:
                found, end = self._json.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buffer) - self.pos > _MAX_RECORD_CHARS:
                    raise self.error(f"{what} is larger than 16 MB or malformed") from None
                if self.more():
                    continue
                raise self.error(f"{what}: {exc.msg}", exc.pos) from None
            if end == len(self.buffer) and not isinstance(found, (dict, list, str)) and self.more():
                continue  # a number may go on in the next chunk
            self.pos = end
            return found


def _json_records(
    head: bytes | str, stream: IO[Any], kind: _Kind, file: str
) -> Iterator[tuple[int, Any]]:
    cursor = _JsonCursor(head, stream, kind, file)
    number = 0

    def array() -> Iterator[tuple[int, Any]]:
        nonlocal number
        cursor.expect("[", "'['")
        if cursor.peek() == "]":
            cursor.pos += 1
            return
        while True:
            number += 1
            record = cursor.value(f"record {number}")
            if number == 1 and not (isinstance(record, dict) and kind.json_key in record):
                raise _malformed(
                    kind, file, f"expected GLEIF {kind.label} records (with {kind.json_key}); "
                    "the first record has none: is this the right file?",
                )  # fmt: skip
            yield number, record
            if cursor.peek() == "]":
                cursor.pos += 1
                return
            cursor.expect(",", f"',' or ']' after record {number}")

    if cursor.peek() == "[":
        yield from array()
    else:
        cursor.expect("{", "'{' or '['")
        streamed = False
        while cursor.peek() != "}":
            if not isinstance(cursor.value("a key"), str):
                raise cursor.error("expected a key")
            cursor.expect(":", "':'")
            if cursor.peek() == "[" and not streamed:
                streamed = True
                yield from array()
            else:
                cursor.value("a header value")
            if cursor.peek() != "}":
                cursor.expect(",", "',' or '}'")
        cursor.pos += 1
        if not streamed:
            raise cursor.error(f"no array of {kind.label} records found")
    if cursor.peek():
        raise cursor.error("unexpected data after the records")


# -- reading fields ------------------------------------------------------------------


def get(record: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def text(record: Any, *keys: str) -> str | None:
    value = get(record, *keys)
    if isinstance(value, dict):  # GLEIF's JSON golden copy: {"$": "text", "@xml:lang": ...}
        value = value.get("$")
    if not isinstance(value, str):
        return None
    return value.strip() or None


def items(value: Any, child: str) -> list[Any]:
    """A repeated element: a list, or ``{child: item-or-list}`` as XML gives it."""
    if isinstance(value, dict) and child in value:
        value = value[child]
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def day(value: str | None, field: str) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise ValidationError("must be an ISO 8601 date", path=field) from None
