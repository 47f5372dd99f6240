"""Fixtures for the deployment tests: the integration suite's real PostgreSQL and Kafka.

The file checks (compose, Kubernetes, Dockerfile, observability files) need no
infrastructure; the tests that start services or the init job reuse the
integration fixtures, so one embedded PostgreSQL and one Kafka serve the whole run.
"""

from __future__ import annotations

from tests.integration.conftest import (  # noqa: F401 - shared fixtures
    infra,
    isolation,
    kafka_libs,
    marker_model,
    session_dir,
    token_keys,
)
