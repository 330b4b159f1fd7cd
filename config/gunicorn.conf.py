# gunicorn config for the Ark API Server: `gunicorn -c config/gunicorn.conf.py wsgi:app`.
# Everything comes from the Ark settings (ARK_* env, or the YAML file named by ARK_CONFIG); the logic
# lives in ark/server.py so that `python -m ark serve` and the single-file binary serve identically.
from ark.server import gunicorn_config

globals().update(gunicorn_config())
wsgi_app = "wsgi:app"
