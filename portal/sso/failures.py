"""The one error of single sign-on, apart from the OpenID Connect client (portal.sso.oidc) so that the pages
and services that name it do not load Authlib, requests and joserfc in every worker: those load with the
first sign-in through a provider."""

from __future__ import annotations


class SsoFailure(Exception):
    """A step of the flow failed; `reason` is shown on the 400 page and kept in the audit log."""

    def __init__(self, reason: str, code: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
