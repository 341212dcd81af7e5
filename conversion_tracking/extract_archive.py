"""Opening a Tracking Extract: the ZIP or bare CSV, its encoding, as text.

A Data Extract Activity writes a ZIP with one CSV per event type; conversions
are in ``Conversions.csv``. The conversions file is streamed straight out of
the ZIP and decoded on the fly, so memory stays bounded whatever its size.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

CONVERSIONS_FILE_NAME = "conversions.csv"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"

# Deflate cannot shrink data more than about 1,000 times; CSV text rarely more
# than 20 (UTF-16 digits perhaps 50). A member that claims far more is a bomb.
MAX_COMPRESSION_RATIO = 200
# Below this inflated size a high ratio costs nothing to read, so it is allowed.
RATIO_FREE_SIZE = 16 * 1024 * 1024
# The longest physical line accepted: a real row is a few hundred characters.
MAX_LINE_LENGTH = 64 * 1024
# How much of the start is looked at to tell text from binary.
HEAD_SIZE = 1024


class ExtractError(Exception):
    """An extract that cannot be read, with where in the file, when known.

    ``line`` counts physical lines of the conversions file, the header being
    line 1; ``column`` is the header name of the offending column.
    """

    def __init__(
        self, message: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if not where:
            return self.message
        place = ", ".join(where)
        return f"{place[0].upper()}{place[1:]}: {self.message}"


def detect_encoding(head: bytes) -> str:
    """The codec for a text file starting with ``head``, from its byte order mark.

    Without a mark, NUL bytes beside ASCII letters betray UTF-16; anything else
    is read as UTF-8.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if len(head) >= 2 and head[0] and not head[1]:
        return "utf-16-le"
    if len(head) >= 2 and not head[0] and head[1]:
        return "utf-16-be"
    if b"\x00" in head:
        raise ExtractError("This is neither a ZIP file nor a CSV file.")
    return "utf-8"


@contextmanager
def open_text(path: str | Path) -> Iterator[tuple[str, IO[str]]]:
    """Yield the conversions file's name and its text, from a ZIP or a bare CSV."""
    with open(path, "rb") as raw:
        head = raw.read(4)
        if not head:
            raise ExtractError("The file is empty.")
        if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
            with _open_member(raw) as (name, member):
                yield name, member
            return
        raw.seek(0)
        with _decode(raw) as text:
            yield Path(path).name, text


@contextmanager
def _open_member(raw: io.BufferedReader) -> Iterator[tuple[str, IO[str]]]:
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ExtractError(f"The ZIP file is damaged or truncated ({exc}).") from exc
    with archive:
        info = _find_conversions(archive)
        _refuse_bomb(info)
        try:
            member = cast(zipfile.ZipExtFile, archive.open(info))
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise ExtractError(f"{info.filename} cannot be read ({exc}).") from exc
        with member, _decode(member) as text:
            yield info.filename, text


def _find_conversions(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    found = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and info.filename.replace("\\", "/").rsplit("/", 1)[-1].casefold()
        == CONVERSIONS_FILE_NAME
    ]
    if not found:
        names = ", ".join(info.filename for info in archive.infolist()[:10])
        raise ExtractError(
            "The ZIP file holds no Conversions.csv "
            f"(it holds: {names or 'nothing'}). Switch on 'Extract Conversions' "
            "in the Data Extract Activity."
        )
    if len(found) > 1:
        names = ", ".join(info.filename for info in found)
        raise ExtractError(
            f"The ZIP file holds more than one conversions file: {names}."
        )
    return found[0]


def _refuse_bomb(info: zipfile.ZipInfo) -> None:
    if info.file_size <= RATIO_FREE_SIZE:
        return
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise ExtractError(
            f"{info.filename} would inflate from {info.compress_size:,} to "
            f"{info.file_size:,} bytes, far more than a CSV file compresses: "
            "refusing to read it."
        )


@contextmanager
def _decode(raw: io.BufferedReader | zipfile.ZipExtFile) -> Iterator[IO[str]]:
    try:
        encoding = detect_encoding(raw.peek(HEAD_SIZE)[:HEAD_SIZE])
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ExtractError(f"The ZIP file is damaged or truncated ({exc}).") from exc
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    try:
        yield text
    finally:
        text.detach()


def read_lines(text: IO[str], counter: list[int]) -> Iterator[str]:
    """Physical lines of ``text``, each bounded; ``counter[0]`` counts them.

    Reading errors of the underlying ZIP member (a truncated stream, a CRC that
    does not match) and undecodable bytes become :class:`ExtractError`.
    """
    readline = text.readline
    limit = MAX_LINE_LENGTH
    while True:
        try:
            line = readline(limit)
        except UnicodeDecodeError as exc:
            raise ExtractError(
                f"The file is not valid {exc.encoding} text.", line=counter[0] + 1
            ) from exc
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
            raise ExtractError(
                f"The ZIP file is damaged or truncated ({exc}).", line=counter[0] + 1
            ) from exc
        if not line:
            return
        counter[0] += 1
        if len(line) == limit and not line.endswith(("\n", "\r")):
            raise ExtractError(
                f"The line is longer than {limit:,} characters: this is not a "
                "Tracking Extract.",
                line=counter[0],
            )
        yield line
