"""User groups and their members (seed 003)."""
