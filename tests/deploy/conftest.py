"""The deployment tests.

The file checks (compose, Kubernetes, Dockerfile, observability files) need no
infrastructure; the tests that start services or the init job use the session's
embedded PostgreSQL and Kafka (``tests/support/infra.py``, loaded by ``tests/conftest.py``).
"""
