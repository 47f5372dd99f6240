"""HTTP plumbing shared by the three services, one concern a module.

* ``app``: :func:`~services.common.http.app.new_app`, the skeleton every service's app starts from;
* ``appkeys``: the typed keys that skeleton sets (metrics, verifier, readiness and liveness checks...);
* ``middleware``: one JSON error shape from :class:`~services.common.errors.DomainError`, trace ids,
  security headers;
* ``cors``: the preflight and the headers for an allowed web origin;
* ``metrics``: the request counters and latency histogram of one app instance;
* ``ops``: ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.yaml``;
* ``auth``: who is calling (:func:`~services.common.http.auth.authenticate`);
* ``body``: request parsing that turns bad input into 4xx naming the field;
* ``addresses``: the client's address behind trusted proxies (rate limits only; never stored or logged).
"""
