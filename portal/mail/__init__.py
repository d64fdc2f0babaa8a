"""Email: written to the outbox in the transaction that causes it, delivered by a worker over SMTP."""
