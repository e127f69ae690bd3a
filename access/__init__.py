"""Accounts, roles, passwords, sessions and signed tokens (the bottom layer of Sabaq)."""
