"""The attendance ledger (append-only, hash-chained per class) and what is derived from it."""
