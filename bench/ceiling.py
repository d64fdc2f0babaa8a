"""The ceiling: a bare Flask page of a given byte size, served by gunicorn like the portal.

GET /bytes/<n> answers an HTML page of exactly n bytes (built once per size, then reused), so
the portal's pages can be compared with the cheapest page Flask can serve at the same size.
"""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)
_pages: dict[int, bytes] = {}
_HEAD = b"<!doctype html><html lang=en><head><meta charset=utf-8><title>ceiling</title></head><body><p>"
_TAIL = b"</p></body></html>\n"


def page_of(size: int) -> bytes:
    """An HTML document of exactly `size` bytes (at least the empty document)."""
    body = _pages.get(size)
    if body is None:
        filler = max(0, size - len(_HEAD) - len(_TAIL))
        line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n"
        body = _HEAD + (line * (filler // len(line) + 1))[:filler] + _TAIL
        _pages[size] = body
    return body


@app.get("/bytes/<int:size>")
def sized(size: int) -> Response:
    return Response(page_of(min(size, 5_000_000)), mimetype="text/html")
