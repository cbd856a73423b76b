"""The OpenAPI schema: generated without a warning, valid, and with every API
operation the URLconf routes (CI also fuzzes the running API against it:
scripts/fuzz-api)."""
import io
import re

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.views import APIView

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def test_spectacular_generates_a_valid_schema_without_warnings(tmp_path):
    # What CI's `manage.py spectacular --fail-on-warn --validate` does: it
    # raises on a warning or an error, and on a schema OpenAPI 3 rejects.
    stderr = io.StringIO()
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"), stderr=stderr)
    assert stderr.getvalue() == ""
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert schema["info"]["title"] == "Store Monitor API"


def _routes(patterns, prefix=""):
    """(path, view) for every route of the URLconf, includes followed."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _shape(path: str) -> str:
    """A route or an OpenAPI path with its parameters as {}: /api/stores/{}/spans/."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "{}", path)  # the routers' regexes
    path = re.sub(r"<(?:\w+:)?\w+>", "{}", path)  # path() routes
    path = re.sub(r"\{\w+\}", "{}", path)  # OpenAPI
    return "/" + path.replace("^", "").replace("$", "").lstrip("/")


def _api_operations() -> set[tuple[str, str]]:
    """(path shape, method) of every DRF operation the URLconf routes, but the
    schema's own views, the router's index and the format-suffix variants."""
    operations = set()
    for route, callback in _routes(get_resolver().url_patterns):
        view = getattr(callback, "cls", None)
        if view is None or not issubclass(view, APIView):
            continue
        if issubclass(view, (SpectacularAPIView, SpectacularSwaggerView)) or "<format>" in route:
            continue
        if getattr(view, "schema", True) is None:  # DefaultRouter's API root excludes itself
            continue
        # A viewset's routes map methods to actions (DRF adds head to them at
        # the first request: not an operation of its own, as for any view).
        actions = getattr(callback, "actions", None)
        methods = [name for name in HTTP_METHODS if (name in actions if actions else hasattr(view, name))]
        operations.update((_shape(route), method) for method in methods)
    return operations


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_api_operation_is_in_the_schema(schema):
    documented = {(_shape(path), method) for path, item in schema["paths"].items() for method in item}
    routed = _api_operations()
    # The seed's endpoints at the root, and the /api/ viewsets with their actions.
    assert {("/poll", "post"), ("/get_report/{}", "get"), ("/api/stores/{}/spans/", "get")} <= routed
    assert ("/api/reports/{}/csv/", "get") in routed
    assert routed - documented == set()
    assert documented - routed == set()


def test_every_operation_answers_errors_as_json(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("401", "403", "429"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }, (method, path, status)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(responses), (method, path)
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)


def test_the_poll_body_is_one_poll_or_a_list_of_up_to_10000(schema):
    for path in ("/poll", "/api/polls/"):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/PollOrBatchRequest"}
    one_of = schema["components"]["schemas"]["PollOrBatchRequest"]["oneOf"]
    assert one_of == [
        {"$ref": "#/components/schemas/PollRequest"},
        {"type": "array", "items": {"$ref": "#/components/schemas/PollRequest"}, "minItems": 1, "maxItems": 10_000},
    ]
    assert schema["components"]["schemas"]["PollRequest"]["additionalProperties"] is False


def test_a_report_is_csv_when_complete_and_json_otherwise(schema):
    for path in ("/get_report", "/get_report/{report_id}", "/api/reports/{id}/csv/"):
        responses = schema["paths"][path]["get"]["responses"]
        assert list(responses["200"]["content"]) == ["text/csv"]
        assert responses["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReportRunning")
        assert responses["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReportFailed")


def test_the_three_auth_schemes_and_device_keys_only_for_polls(schema):
    schemes = schema["components"]["securitySchemes"]
    # `Authorization: Token <key>`
    assert (schemes["tokenAuth"]["in"], schemes["tokenAuth"]["name"]) == ("header", "Authorization")
    assert '"Token"' in schemes["tokenAuth"]["description"]
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert (schemes["storeKeyAuth"]["in"], schemes["storeKeyAuth"]["name"]) == ("header", "X-Store-Key")
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            names = {name for requirement in operation["security"] for name in requirement}
            expected = {"tokenAuth", "cookieAuth"} | ({"storeKeyAuth"} if path in ("/poll", "/api/polls/") else set())
            assert names == expected, (method, path)
            # Never anonymous: no empty requirement.
            assert {} not in operation["security"], (method, path)


def test_the_schema_and_its_docs_page_are_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Store Monitor API"

    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # Swagger UI from the sidecar's static files: nothing from a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html
