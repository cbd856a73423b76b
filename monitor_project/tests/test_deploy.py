"""Production settings: with DEBUG off and the README's production environment,
`manage.py check --deploy` finds nothing, HTTPS is enforced, and WhiteNoise
serves the collected static files. Each case runs in a fresh process with
the real settings (monitor_project.settings, not the test settings, which
speak plain HTTP)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The README's production variables, and nothing from the caller's
    environment that settings read (a developer's .env or exports)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "monitor_project.settings",
        "ENV_FILE": os.devnull,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "monitor.example.com,testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        **extra,
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_check_deploy_reports_nothing(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_would_see_insecure_settings(tmp_path):
    # The check is live: turning the defaults off is reported.
    env = production_env(tmp_path, SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="0")
    result = run(["manage.py", "check", "--deploy"], env)
    for warning in ("security.W008", "security.W012", "security.W004"):
        assert warning in result.stderr + result.stdout


SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "USE_X_FORWARDED_HOST",
    "USE_X_FORWARDED_FOR",
    "STORAGES",
    "MIDDLEWARE",
]


def settings_of(env: dict[str, str]) -> dict:
    code = (
        "import json\nfrom django.conf import settings\n"
        f"print(json.dumps({{name: getattr(settings, name) for name in {SETTINGS!r}}}))"
    )
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_secure_by_default_when_debug_is_off(tmp_path):
    values = settings_of(production_env(tmp_path))
    assert values["SECURE_SSL_REDIRECT"] and values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and values["SECURE_HSTS_PRELOAD"]
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert not values["USE_X_FORWARDED_HOST"] and not values["USE_X_FORWARDED_FOR"]
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    middleware = values["MIDDLEWARE"]
    assert middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") == (
        middleware.index("django.middleware.security.SecurityMiddleware") + 1
    )


def test_debug_serves_plain_http(tmp_path):
    env = production_env(tmp_path, DEBUG="true")
    values = settings_of(env)
    assert not values["SECURE_SSL_REDIRECT"] and not values["SESSION_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_behind_a_tls_proxy(tmp_path):
    env = production_env(
        tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", USE_X_FORWARDED_HOST="true", USE_X_FORWARDED_FOR="true"
    )
    values = settings_of(env)
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["USE_X_FORWARDED_HOST"] and values["USE_X_FORWARDED_FOR"]


def test_a_bad_proxy_header_stops_the_settings(tmp_path):
    result = run(["-c", "from django.conf import settings; settings.DEBUG"],
                 production_env(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"))
    assert result.returncode != 0 and "SECURE_PROXY_SSL_HEADER is a header name" in result.stderr


# What a production process answers, through the whole middleware stack:
# collectstatic first, then the test client (http, https, and https as a
# TLS-terminating proxy says it).
SERVE_SCRIPT = r"""
import json, re
import django
django.setup()
from django.core.management import call_command
from django.test import Client

call_command("collectstatic", interactive=False, verbosity=0)
client = Client()
out = {}
plain = client.get("/admin/login/")
out["http"] = [plain.status_code, plain.get("Location")]
page = client.get("/admin/login/", secure=True)
out["https"] = page.status_code
out["hsts"] = page.get("Strict-Transport-Security")
out["csrf_cookie_secure"] = bool(page.cookies["csrftoken"]["secure"])
css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.content.decode())
out["css"] = css[1] if css else None
if css:
    static = client.get(css[1], secure=True, HTTP_ACCEPT_ENCODING="gzip")
    out["css_status"] = static.status_code
    out["css_cache"] = static.get("Cache-Control")
    out["css_encoding"] = static.get("Content-Encoding")
    static.close()
proxied = Client(HTTP_X_FORWARDED_PROTO="https").get("/admin/login/")
out["proxied"] = proxied.status_code
print(json.dumps(out))
"""


def test_production_process_enforces_https_and_serves_collected_static_files(tmp_path):
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    result = run(["-c", SERVE_SCRIPT], env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["http"] == [301, "https://testserver/admin/login/"]
    assert out["https"] == 200
    assert out["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert out["csrf_cookie_secure"]
    # Hashed names from the manifest, served by WhiteNoise, compressed, cached for ever.
    assert out["css"], "the page names no hashed stylesheet"
    assert out["css_status"] == 200
    assert "immutable" in out["css_cache"] and "max-age=315360000" in out["css_cache"]
    assert out["css_encoding"] == "gzip"
    # Behind the proxy, its X-Forwarded-Proto: https counts as HTTPS: no redirect loop.
    assert out["proxied"] == 200
