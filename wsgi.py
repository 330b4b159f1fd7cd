"""WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app`` (settings from ARK_* env / ARK_CONFIG)."""
from ark.app import create_app
from ark.settings import Settings

app = create_app(Settings.load())
