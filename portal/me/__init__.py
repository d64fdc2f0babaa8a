"""Self-service pages of the signed-in person (/me)."""
