"""The control plane's machinery, between the domains and ``web/`` (DESIGN.md, "Packages"):
event ingestion in one process and from Redis, media commands, the media gate, the control
lock, the node registry and dead-node watch, placement, the webhook outbox, idempotency."""
