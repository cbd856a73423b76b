"""API rate limits (stores/throttling.py): per user and per device key, rates
from MONITOR_THROTTLE_OWNER / MONITOR_THROTTLE_DEVICE read at each request,
429 JSON with Retry-After. The test settings turn both off; these tests set
them with override_settings."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import api_token_create
from stores.services import store_register
from common.rates import rate_setting
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db


def poll(store_id: str, hour: int) -> dict:
    return {"id": store_id, "utc_timestamp": f"2024-01-10T{hour:02d}:00:00Z", "status": "active"}


def device_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=key)
    return client


@pytest.fixture
def keys(owner) -> dict[str, str]:
    return {store_id: store_register(organization=organization_of(owner), store_id=store_id).device_key for store_id in ("dev-1", "dev-2")}


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "throttled"
    assert "throttled" in body["message"].lower()
    assert int(response["Retry-After"]) > 0


def test_off_in_the_test_settings(api):
    for _ in range(30):
        assert api.get("/api/stores/").status_code == 200


@override_settings(MONITOR_THROTTLE_OWNER="3/min")
def test_a_user_is_limited_whichever_token_or_session(api, owner, client):
    for _ in range(3):
        assert api.get("/api/stores/").status_code == 200
    assert_throttled(api.get("/api/stores/"))
    # Every endpoint counts, and a second token of the same user shares the count.
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=owner)}")
    assert_throttled(second.post("/trigger_report", {}, format="json"))
    # So does the user's session.
    client.force_login(owner)
    assert client.get("/api/stores/").status_code == 429


@override_settings(MONITOR_THROTTLE_OWNER="2/min")
def test_users_are_counted_apart(api, other_api):
    for _ in range(2):
        assert api.get("/api/stores/").status_code == 200
    assert api.get("/api/stores/").status_code == 429
    assert other_api.get("/api/stores/").status_code == 200


@override_settings(MONITOR_THROTTLE_DEVICE="2/min", MONITOR_THROTTLE_OWNER="none")
def test_a_device_key_is_limited_and_keys_are_counted_apart(keys, api):
    one = device_client(keys["dev-1"])
    assert one.post("/poll", poll("dev-1", 1), format="json").status_code == 201
    assert one.post("/api/polls/", poll("dev-1", 2), format="json").status_code == 201
    assert_throttled(one.post("/poll", poll("dev-1", 3), format="json"))
    # Another store's device, and the owner's token, are not held back.
    assert device_client(keys["dev-2"]).post("/poll", poll("dev-2", 1), format="json").status_code == 201
    assert api.post("/poll", poll("dev-1", 3), format="json").status_code == 201


@override_settings(MONITOR_THROTTLE_OWNER="1/min", MONITOR_THROTTLE_DEVICE="none")
def test_device_requests_do_not_count_against_any_users_limit(keys):
    """Devices are no user: were they counted by the owner limit, every device
    would share one count (there is no user id to tell them apart)."""
    first, second = device_client(keys["dev-1"]), device_client(keys["dev-2"])
    for hour in range(3):
        assert first.post("/poll", poll("dev-1", hour), format="json").status_code == 201
        assert second.post("/poll", poll("dev-2", hour), format="json").status_code == 201


@override_settings(MONITOR_THROTTLE_DEVICE="1/min", MONITOR_THROTTLE_OWNER="1/min")
def test_device_and_owner_limits_are_separate(keys, api):
    assert device_client(keys["dev-1"]).post("/poll", poll("dev-1", 1), format="json").status_code == 201
    assert api.get("/api/stores/").status_code == 200
    assert device_client(keys["dev-1"]).post("/poll", poll("dev-1", 2), format="json").status_code == 429
    assert api.get("/api/stores/").status_code == 429


@override_settings(MONITOR_THROTTLE_OWNER="1/min")
def test_rates_are_read_at_each_request(api):
    assert api.get("/api/stores/").status_code == 200
    assert api.get("/api/stores/").status_code == 429
    with override_settings(MONITOR_THROTTLE_OWNER="none"):
        assert api.get("/api/stores/").status_code == 200
    with override_settings(MONITOR_THROTTLE_OWNER="5/min"):
        assert api.get("/api/stores/").status_code == 200


@override_settings(MONITOR_THROTTLE_OWNER="1/min", MONITOR_THROTTLE_DEVICE="1/min")
def test_requests_without_credentials_are_refused_not_throttled():
    client = APIClient()
    for _ in range(3):
        assert client.get("/api/stores/").status_code == 401


@override_settings(MONITOR_THROTTLE_OWNER="1/min")
def test_the_retry_after_is_at_most_the_period(api):
    api.get("/api/stores/")
    response = api.get("/api/stores/")
    assert 0 < int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("value", "expected"),
    [("600/min", "600/min"), (" 10/s ", "10/s"), ("5000/hour", "5000/hour"), ("1/day", "1/day"),
     ("", None), ("none", None), ("None", None)],
)
def test_rate_setting(value, expected):
    assert rate_setting("X", value) == expected


@pytest.mark.parametrize("value", ["600", "10/mango", "0/min", "-1/min", "ten/min", "5/min/x"])
def test_bad_rate_setting(value):
    with pytest.raises(ImproperlyConfigured, match="X must be a rate"):
        rate_setting("X", value)


def test_bad_rate_in_the_environment_stops_the_settings():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "ENV_FILE": os.devnull, "SECRET_KEY": "x", "MONITOR_THROTTLE_DEVICE": "10/mango"}
    result = subprocess.run(
        [sys.executable, "-c", "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'monitor_project.settings'\n"
         "from django.conf import settings; settings.DEBUG"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "MONITOR_THROTTLE_DEVICE must be a rate" in result.stderr
