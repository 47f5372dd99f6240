"""Plumbing shared by all three services: config, database, events, outbox, consumer, HTTP."""
