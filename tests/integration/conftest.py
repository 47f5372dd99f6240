"""The integration tests' fixtures (embedded PostgreSQL + Kafka, ``isolation``, ``stack``)
live in ``tests/support/infra.py``, loaded for every suite by ``tests/conftest.py``."""
