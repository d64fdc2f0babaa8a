"""CSV downloads: streamed a few hundred rows at a time, with cells that a spreadsheet opens as
text, never as a formula (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

_FORMULA_START = frozenset("=+-@\t\r")
ROWS_PER_CHUNK = 500


def cell(value: Any) -> str:
    """The value as a CSV cell; text that starts like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text and text[0] in _FORMULA_START else text


def csv_download(filename: str, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Response:
    """A streamed text/csv attachment: the header, then each row's values as safe cells. The rows
    are read as the response is sent (inside the request's context), so memory stays flat."""

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for n, values in enumerate(rows, start=1):
            writer.writerow([cell(v) for v in values])
            if n % ROWS_PER_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(chunks()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
