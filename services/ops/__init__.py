"""Operations: the one-shot init job (roles, migrations, topics), probes, keys, baking model weights.

Run by operators and by the deployment (docker-compose's ``init`` service, the
Kubernetes Job), never by the services themselves.
"""
