"""Invitations: invite people with roles and groups; they accept through an emailed link."""
