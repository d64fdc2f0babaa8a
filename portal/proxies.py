"""The client's address behind reverse proxies: X-Forwarded-For is believed only from proxies we run.

With TRUSTED_PROXIES=N (the number of proxies in front of the portal), the address N hops back in
X-Forwarded-For becomes request.remote_addr, and X-Forwarded-Proto the scheme. The Host header
is never taken from X-Forwarded-Host (links in emails use PORTAL_BASE_URL anyway). With 0, the
default, forwarded headers are ignored: a client cannot choose the address that rate limits,
audit events and the request log record (SECURITY H4).
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    """Wrap the WSGI app in ProxyFix when proxies are configured."""
    hops = int(app.config.get("TRUSTED_PROXIES", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
