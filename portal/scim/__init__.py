"""SCIM 2.0 provisioning (RFC 7643 / 7644, issue 16, contract ../shared/SCIM.md): an account's users and
groups follow its identity provider, through the same services as the pages and the JSON API."""
