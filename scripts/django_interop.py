#!/usr/bin/env python3
"""The real djangorestframework-api-key, driven from the interop tests.

Runs Django in-process against the database the Rust code uses, and prints
one JSON document on stdout. Run it with the python printed by
scripts/django-venv.sh:

    django_interop.py --db URL migrate
    django_interop.py --db URL create --name NAME [--expiry ISO] [--hasher pbkdf2_sha256|pbkdf2_sha1]
    django_interop.py --db URL is_valid            (reads the key from stdin)
    django_interop.py --db URL get_from_key        (reads the key from stdin)
    django_interop.py --db URL revoke PREFIX
    django_interop.py --db URL dump
    django_interop.py --db URL describe    (the key table's catalogue, no names)

URL: sqlite://PATH, a bare path, or postgres://user[:password]@host[:port]/db.
Keys travel on stdin, not in arguments, so they do not show in process lists.
"""
import argparse
import json
import sys
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings


def database_settings(url):
    if url.startswith(("postgres://", "postgresql://")):
        u = urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(u.path.lstrip("/")),
            "USER": unquote(u.username or ""),
            "PASSWORD": unquote(u.password or ""),
            "HOST": u.hostname or "",
            "PORT": str(u.port or ""),
        }
    path = url[len("sqlite://"):] if url.startswith("sqlite://") else url
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}


def iso(dt):
    return None if dt is None else dt.isoformat()


def row(obj):
    return {
        "id": obj.id,
        "prefix": obj.prefix,
        "hashed_key": obj.hashed_key,
        "name": obj.name,
        "created": iso(obj.created),
        "expiry_date": iso(obj.expiry_date),
        "revoked": obj.revoked,
        "has_expired": obj.has_expired,
    }


def describe(connection, table):
    """The table as the database's catalogue has it: columns in order (name,
    type, length, nullability, default), indexes and constraints without
    their names (Django's are hashes), so two tables can be compared."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT column_name, data_type, character_maximum_length, is_nullable, "
                "column_default FROM information_schema.columns "
                "WHERE table_name = %s ORDER BY ordinal_position", [table])
            columns = [list(r) for r in cur.fetchall()]
            cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
                        [table])
            indexes = sorted(d.replace(n, "_") for n, d in cur.fetchall())
            cur.execute(
                "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass", [table])
            constraints = sorted(" ".join(r) for r in cur.fetchall())
        else:
            cur.execute("SELECT name, type, \"notnull\", dflt_value, pk "
                        "FROM pragma_table_info(%s) ORDER BY cid", [table])
            columns = [list(r) for r in cur.fetchall()]
            cur.execute("SELECT name, \"unique\", origin, partial FROM pragma_index_list(%s)",
                        [table])
            indexes = []
            for name, unique, origin, partial in cur.fetchall():
                cur.execute("SELECT name FROM pragma_index_info(%s) ORDER BY seqno", [name])
                cols = [c for (c,) in cur.fetchall()]
                indexes.append(f"unique={unique} origin={origin} partial={partial} {cols}")
            indexes.sort()
            constraints = []
    return {"vendor": connection.vendor, "columns": columns, "indexes": indexes,
            "constraints": constraints}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate")
    c = sub.add_parser("create")
    c.add_argument("--name", required=True)
    c.add_argument("--expiry")
    c.add_argument("--hasher", choices=["pbkdf2_sha256", "pbkdf2_sha1"])
    sub.add_parser("is_valid")
    sub.add_parser("get_from_key")
    r = sub.add_parser("revoke")
    r.add_argument("prefix")
    sub.add_parser("dump")
    sub.add_parser("describe")
    args = ap.parse_args()

    settings.configure(
        SECRET_KEY="interop-tests-not-secret",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "rest_framework_api_key",
        ],
        DATABASES={"default": database_settings(args.db)},
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils.dateparse import parse_datetime
    from rest_framework_api_key.crypto import KeyGenerator, concatenate
    from rest_framework_api_key.models import APIKey

    out = None
    if args.cmd == "migrate":
        call_command("migrate", "rest_framework_api_key", verbosity=0, interactive=False)
        out = {"migrated": True}
    elif args.cmd == "create":
        expiry = parse_datetime(args.expiry) if args.expiry else None
        if args.hasher:
            # As drf-api-key < 3.0 stored keys: a Django password hasher.
            key, prefix, _ = KeyGenerator().generate()
            hashed = make_password(key, hasher=args.hasher)
            obj = APIKey.objects.create(id=concatenate(prefix, hashed), prefix=prefix,
                                        hashed_key=hashed, name=args.name, expiry_date=expiry)
        else:
            obj, key = APIKey.objects.create_key(name=args.name, expiry_date=expiry)
        out = dict(row(APIKey.objects.get(pk=obj.pk)), key=key)
    elif args.cmd == "is_valid":
        out = {"is_valid": APIKey.objects.is_valid(sys.stdin.read().strip())}
    elif args.cmd == "get_from_key":
        try:
            out = dict(row(APIKey.objects.get_from_key(sys.stdin.read().strip())), found=True)
        except APIKey.DoesNotExist:
            out = {"found": False}
    elif args.cmd == "revoke":
        obj = APIKey.objects.get(prefix=args.prefix)
        obj.revoked = True
        obj.save()
        out = row(APIKey.objects.get(prefix=args.prefix))
    elif args.cmd == "dump":
        rows = [row(o) for o in APIKey.objects.order_by("prefix")]
        # The stored form itself: on SQLite the text, as Django reads it.
        with connection.cursor() as cur:
            cur.execute(
                "SELECT prefix, CAST(created AS TEXT), CAST(expiry_date AS TEXT) "
                "FROM rest_framework_api_key_apikey ORDER BY prefix")
            raw = {p: {"created": c, "expiry_date": e} for p, c, e in cur.fetchall()}
        for r_ in rows:
            r_["raw"] = raw[r_["prefix"]]
        out = {"vendor": connection.vendor, "rows": rows}
    elif args.cmd == "describe":
        out = describe(connection, APIKey._meta.db_table)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
