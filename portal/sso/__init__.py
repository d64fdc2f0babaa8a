"""Single sign-on through the account's own OpenID Connect provider (issue 21)."""
