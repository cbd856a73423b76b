"""Every answer carries the Content-Security-Policy (finding 6 of issue 9);
reports/tests/test_browser.py checks in Chromium that no page breaks it."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def directives(header: str, *, nonces: bool = True) -> dict[str, set[str]]:
    return {
        name: {value for value in values if nonces or not value.startswith("'nonce-")}
        for name, *values in (part.split() for part in header.split(";"))
    }


@pytest.mark.parametrize(
    "path",
    ["/dashboard/", "/reports/", "/admin/", "/admin/login/", "/api/docs/", "/api/stores/", "/dashboard/stores/nope/"],
)
def test_every_page_and_answer_carries_the_policy(client, superuser, path):
    client.force_login(superuser)
    response = client.get(path)
    # A page that uses the response's nonce has it in the policy too (the next test).
    assert directives(response["Content-Security-Policy"], nonces=False) == directives(POLICY)


def test_a_page_with_an_inline_style_gets_a_nonce_for_it_alone(client):
    response = client.get("/api/docs/")
    policy = directives(response["Content-Security-Policy"])
    [nonce] = [value for value in policy["style-src"] if value.startswith("'nonce-")]
    assert f'<style nonce="{nonce[7:-1]}">' in response.content.decode()
    assert "'unsafe-inline'" not in policy["style-src"] | policy["script-src"]
    # Its start-up script is a file of its own, from this site.
    assert '<script src="/api/docs/?script="></script>' in response.content.decode()


def test_the_api_answers_a_browser_with_json(api):
    response = api.get("/api/stores/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_device_poll_carries_the_policy_django_csp_builds(client, owner):
    from csp.utils import build_policy

    from stores.services import store_register
    from stores.tests.factories import organization_of

    key = store_register(organization=organization_of(owner), store_id="csp-1").device_key
    body = '{"id": "csp-1", "utc_timestamp": "2024-01-08T15:00:00Z", "status": "active"}'
    response = client.post("/poll", body, content_type="application/json", HTTP_X_STORE_KEY=key)
    assert response.status_code == 201
    assert response["Content-Security-Policy"] == build_policy()
    assert directives(response["Content-Security-Policy"]) == directives(POLICY)


def test_the_policy_built_once_follows_a_change_of_the_settings(client, settings):
    assert directives(client.get("/admin/login/")["Content-Security-Policy"], nonces=False) == directives(POLICY)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert client.get("/admin/login/")["Content-Security-Policy"] == "default-src 'none'"
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"img-src": ["'self'"]}, "EXCLUDE_URL_PREFIXES": ["/api/"]}
    response = client.get("/admin/login/")
    assert directives(response["Content-Security-Policy-Report-Only"]) == {"img-src": {"'self'"}, "default-src": {"'self'"}}
    assert "Content-Security-Policy-Report-Only" not in client.get("/api/docs/?format=openapi")
