"""WSGI entry point for gunicorn: refbench.wsgi:application."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refbench.settings")
application = get_wsgi_application()
