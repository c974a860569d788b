"""Domain events: an outbox written in the change's own transaction, delivered to webhook subscribers."""
