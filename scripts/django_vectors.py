#!/usr/bin/env python3
"""Known-answer test vectors made by the real djangorestframework-api-key.

Run with the python printed by scripts/django-venv.sh (or use
scripts/make-vectors.sh). Writes JSON to stdout, or to --out.
Every vector is verified by the reference itself before it is written.
"""
import argparse
import datetime
import json
import platform
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="test-vectors-not-secret",
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "rest_framework",
        "rest_framework_api_key",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    # PASSWORD_HASHERS left at Django's default on purpose.
)
django.setup()

from importlib.metadata import version  # noqa: E402

from django.contrib.auth.hashers import (  # noqa: E402
    PBKDF2PasswordHasher,
    PBKDF2SHA1PasswordHasher,
    make_password,
)
from django.core.management import call_command  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402
from rest_framework_api_key.crypto import KeyGenerator, concatenate  # noqa: E402
from rest_framework_api_key.models import APIKey  # noqa: E402


def die(msg):
    sys.exit(f"django_vectors: {msg}")


def wrong(key):
    """Same prefix, last character of the secret changed."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def check(key, prefix, hashed):
    gen = KeyGenerator()
    if not gen.verify(key, hashed):
        die(f"reference rejects its own vector {prefix}")
    if gen.verify(wrong(key), hashed) or gen.verify(key + "x", hashed):
        die(f"reference accepts a wrong key for {prefix}")


def row_vector(fmt, key, note):
    """Read the stored row back, check it, then let the model verify the key
    (which, for non-sha512 hashes, upgrades hashed_key in place)."""
    obj = APIKey.objects.get(prefix=key.partition(".")[0])
    v = {"format": fmt, "key": key, "prefix": obj.prefix,
         "hashed_key": obj.hashed_key, "id": obj.id, "note": note}
    if obj.id != concatenate(obj.prefix, obj.hashed_key):
        die(f"id mismatch for {obj.prefix}")
    if not obj.hashed_key.startswith(fmt + "$"):
        die(f"unexpected format for {obj.prefix}: {obj.hashed_key[:20]}")
    check(key, obj.prefix, obj.hashed_key)
    if APIKey.objects.is_valid(wrong(key)) or not APIKey.objects.is_valid(key):
        die(f"APIKey.objects.is_valid disagrees for {obj.prefix}")
    after = APIKey.objects.get(prefix=obj.prefix)
    if after.hashed_key != obj.hashed_key:
        # Documented 3.x behaviour: hashed_key is rehashed to sha512, id kept.
        v["upgraded_hashed_key"] = after.hashed_key
        if after.id != obj.id:
            die("id changed on upgrade")
    return v


def legacy(fmt, n, encode, note):
    out = []
    for i in range(n):
        key, prefix, _ = KeyGenerator().generate()
        hashed = encode(key)
        APIKey.objects.create(id=concatenate(prefix, hashed), prefix=prefix,
                              hashed_key=hashed, name=f"{fmt}-{i}")
        out.append(row_vector(fmt, key, note))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", help="write JSON here instead of stdout")
    args = ap.parse_args()

    call_command("migrate", verbosity=0, interactive=False)
    default_iters = PBKDF2PasswordHasher.iterations

    vectors = []
    for i in range(5):
        _, key = APIKey.objects.create_key(name=f"sha512-{i}")
        vectors.append(row_vector(
            "sha512", key, "APIKey.objects.create_key(): default 3.x format sha512$$<hex>"))
    vectors += legacy(
        "pbkdf2_sha256", 3, lambda k: make_password(k, hasher="pbkdf2_sha256"),
        f"make_password(key, hasher='pbkdf2_sha256'), Django {django.get_version()} "
        f"default {default_iters} iterations, default salt")
    vectors += legacy(
        "pbkdf2_sha256", 2,
        lambda k: PBKDF2PasswordHasher().encode(k, salt=get_random_string(12), iterations=36000),
        "PBKDF2PasswordHasher().encode(key, 12-char salt, iterations=36000): "
        "as pre-3.0 drf-api-key on old Django stored keys")
    vectors += legacy(
        "pbkdf2_sha1", 2, lambda k: PBKDF2SHA1PasswordHasher().encode(k, PBKDF2SHA1PasswordHasher().salt()),
        f"PBKDF2SHA1PasswordHasher().encode(key, default salt), "
        f"{PBKDF2SHA1PasswordHasher.iterations} iterations")

    doc = {
        "provenance": {
            "generator": "scripts/django_vectors.py",
            "django": django.get_version(),
            "djangorestframework": version("djangorestframework"),
            "djangorestframework_api_key": version("djangorestframework-api-key"),
            "python": platform.python_version(),
            "generated_at": datetime.datetime.now(datetime.timezone.utc)
            .replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        },
        "vectors": vectors,
    }
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
