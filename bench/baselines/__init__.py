"""Baselines: the least a server on our stack can do for each figure, served the same way.

``python -m bench.baselines.serve`` runs these apps with exactly the gunicorn options of
``python -m ark serve`` (``ark.server.gunicorn_options``: gevent workers, TLS with a
generated certificate, the same keep-alive, limits and worker count), so a ratio to them
measures our code, not the stack. ``rawloops`` holds the in-process loops (commits,
NOTIFY→LISTEN) that show what the database itself allows.
"""
