#!/usr/bin/env python3
"""Migrates the reference's key database (REFBENCH_DB) and creates one key
with djangorestframework-api-key's own manager; prints the key alone on
stdout (shown once, as `apikey create` does)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refbench.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from rest_framework_api_key.models import APIKey  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
_, key = APIKey.objects.create_key(name="bench")
print(key)
