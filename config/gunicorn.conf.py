# gunicorn config for the Ark API Server: `gunicorn -c config/gunicorn.conf.py wsgi:app` (the image's entry point).
# Everything comes from the Ark settings (ARK_* env, or the YAML file named by ARK_CONFIG); the logic
# lives in ark/server.py so that `python -m ark serve` and the single-file binary serve identically.
# A bad setting ends gunicorn as it ends `python -m ark serve`: one line on stderr, exit code 2.
import sys

from ark.server import gunicorn_config
from ark.settings import ConfigError

try:
    globals().update(gunicorn_config())
except ConfigError as exc:
    print(f"ark-apiserver: error: {' '.join(str(exc).split())}", file=sys.stderr)
    sys.exit(2)
wsgi_app = "wsgi:app"
