"""Email changes: pending until the new address confirms them through an emailed link (SECURITY E1)."""
