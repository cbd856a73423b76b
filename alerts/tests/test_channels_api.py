"""/api/channels/ (an organization's admins): create webhook, email and
Apprise channels, list, retrieve, delete, send a test; URLs reaching
loopback, private or link-local addresses refused unless
MONITOR_WEBHOOK_ALLOW_PRIVATE. And the admin's channel and notification pages."""
from __future__ import annotations

import json

import pytest

from accounts.models import Role
from alerts.models import Channel, Notification
from alerts.tests.local_servers import http_receiver
from conftest import token_client
from stores.tests.factories import StoreGroupFactory, member_account, organization_of

pytestmark = pytest.mark.django_db
URL = "/api/channels/"
SECRET = "s3cret-for-the-tests"


def webhook_body(url: str, **extra) -> dict:
    return {"kind": "webhook", "name": "ops", "url": url, "secret": SECRET, **extra}


@pytest.fixture
def allow_private(settings):
    settings.MONITOR_WEBHOOK_ALLOW_PRIVATE = True


@pytest.mark.parametrize(
    "url, address",
    [
        ("http://127.0.0.1/hook", "127.0.0.1"),
        ("https://localhost:8443/hook", None),  # resolves to 127.0.0.1 (or ::1)
        ("http://10.0.0.5/hook", "10.0.0.5"),
        ("http://192.168.1.20:8080/hook", "192.168.1.20"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),  # the cloud metadata service
        ("http://[::1]/hook", "::1"),
        ("http://[::ffff:10.1.2.3]/hook", "::ffff:10.1.2.3"),
        ("http://0.0.0.0/hook", "0.0.0.0"),
    ],
)
def test_a_webhook_to_a_private_address_is_refused(api, url, address):
    response = api.post(URL, webhook_body(url), format="json")
    assert (response.status_code, response.json()["code"]) == (400, "webhook_url_private")
    if address:
        assert f"({address})" in response.json()["message"]
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/notify",
        "gotify://10.0.0.1/token123456789",
        "ntfy://192.168.0.2/topic",
        "mailtos://user:pass@10.0.0.12:587",
        "rsyslog://169.254.169.254",
    ],
)
def test_an_apprise_url_reaching_a_private_address_is_refused_too(api, url):
    response = api.post(URL, {"kind": "apprise", "name": "chat", "url": url}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "webhook_url_private")


def test_an_apprise_service_acting_on_the_server_itself_is_refused(api, allow_private):
    response = api.post(URL, {"kind": "apprise", "name": "chat", "url": "syslog://"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "apprise_url_invalid")
    assert response.json()["message"] == "syslog:// acts on the server's own machine: use a service reached over the network."


def test_private_addresses_are_allowed_by_the_setting(api, allow_private):
    response = api.post(URL, webhook_body("http://127.0.0.1:9000/hook"), format="json")
    assert response.status_code == 201


def test_an_admin_creates_lists_and_deletes_channels_and_the_secret_is_never_shown(api, owner, allow_private):
    organization = organization_of(owner)
    StoreGroupFactory(organization=organization, name="north")
    made = api.post(URL, webhook_body("http://127.0.0.1:9000/hook", groups=["north"]), format="json")
    assert made.status_code == 201
    body = made.json()
    assert SECRET not in json.dumps(body) and "secret" not in body
    assert {key: body[key] for key in ("organization", "kind", "name", "groups", "url", "failing")} == {
        "organization": "alice",
        "kind": "webhook",
        "name": "ops",
        "groups": ["north"],
        "url": "http://127.0.0.1:9000/hook",
        "failing": False,
    }
    assert Channel.objects.get().secret == SECRET

    email = api.post(URL, {"kind": "email", "name": "managers", "addresses": ["ops@acme.test"]}, format="json")
    assert (email.status_code, email.json()["addresses"]) == (201, ["ops@acme.test"])
    apprise = api.post(URL, {"kind": "apprise", "name": "chat", "url": "tgram://123456789:abcdefghijklmnopqrstuvwxyzABCDEFGHI/12345"}, format="json")
    assert apprise.status_code == 201
    assert "abcdefghijklmnopqrstuvwxyz" not in apprise.json()["url"]  # its token is masked

    listed = api.get(URL).json()
    assert [channel["name"] for channel in listed] == ["chat", "managers", "ops"]
    assert all(SECRET not in json.dumps(channel) for channel in listed)
    assert api.get(f"{URL}{body['id']}/").json()["name"] == "ops"
    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    assert sorted(Channel.objects.values_list("name", flat=True)) == ["chat", "managers"]


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"kind": "webhook", "name": "x", "url": "https://hooks.example.com/x"}, "secret", "Required for a webhook channel."),
        ({"kind": "email", "name": "x"}, "addresses", "Required for an email channel."),
        ({"kind": "email", "name": "x", "addresses": ["a@b.test"], "url": "https://x.test/"}, "url", "Not used by an email channel."),
        ({"kind": "apprise", "name": "x", "url": "json://x.test/", "secret": "12345678"}, "secret", "Not used by an apprise channel."),
        ({"kind": "email", "name": "x", "addresses": ["not an address"]}, "addresses", None),
        ({"kind": "sms", "name": "x"}, "kind", None),
    ],
)
def test_each_kind_takes_its_own_fields(api, body, field, message):
    response = api.post(URL, body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert field in response.json()["errors"]
    if message:
        assert response.json()["errors"][field] == [message]


def test_other_refusals(api, owner, allow_private):
    assert api.post(URL, {"kind": "apprise", "name": "x", "url": "nope://x"}, format="json").json()["code"] == "apprise_url_invalid"
    assert api.post(URL, webhook_body("ftp://example.com/x"), format="json").json()["code"] == "webhook_url_invalid"
    assert api.post(URL, webhook_body("http://127.0.0.1/", groups=["west"]), format="json").json()["code"] == "unknown_group"
    assert api.post(URL, webhook_body("http://127.0.0.1/"), format="json").status_code == 201
    taken = api.post(URL, webhook_body("http://127.0.0.1/"), format="json")
    assert (taken.status_code, taken.json()["code"]) == (409, "channel_name_taken")


def test_channels_are_for_admins_of_their_organization(api, owner, other_api, allow_private):
    organization = organization_of(owner)
    channel_id = api.post(URL, webhook_body("http://127.0.0.1/"), format="json").json()["id"]
    for role in (Role.VIEWER, Role.MANAGER):
        member = token_client(member_account(organization, f"m-{role}", role))
        refused = member.get(URL)
        assert (refused.status_code, refused.json()["code"]) == (403, "role_too_low")
        assert member.post(f"{URL}{channel_id}/test/").status_code == 403
    # Another organization's admin: it does not exist.
    assert other_api.get(URL).json() == []
    assert other_api.get(f"{URL}{channel_id}/").status_code == 404
    assert other_api.delete(f"{URL}{channel_id}/").status_code == 404
    assert other_api.post(f"{URL}{channel_id}/test/").status_code == 404


def test_send_a_test_from_the_api(api, allow_private, django_capture_on_commit_callbacks):
    with http_receiver(200) as receiver:
        channel_id = api.post(URL, webhook_body(receiver.url), format="json").json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"{URL}{channel_id}/test/")
    assert response.status_code == 202
    assert (response.json()["event"], response.json()["channel"]) == ("test", channel_id)
    [request] = receiver.requests
    body = json.loads(request.body)
    assert (body["event"], body["incident"], body["store"], body["organization"]) == ("test", None, None, "alice")
    assert Notification.objects.get().status == "delivered"


# --------------------------------------------------------------------------
# The admin
# --------------------------------------------------------------------------


def test_the_admin_sends_a_test_and_shows_each_attempt(client, owner, other_owner, allow_private, django_capture_on_commit_callbacks):
    from alerts.notifications import channel_create

    client.force_login(owner)
    with http_receiver(503) as receiver:
        channel = channel_create(organization=organization_of(owner), kind="webhook", name="ops", url=receiver.url, secret=SECRET)
        theirs = channel_create(organization=organization_of(other_owner), kind="webhook", name="bob's", url=receiver.url, secret=SECRET)
        page = client.get("/admin/alerts/channel/")
        assert page.status_code == 200 and b"ops" in page.content and b"bob&#x27;s" not in page.content
        assert SECRET.encode() not in client.get(f"/admin/alerts/channel/{channel.pk}/change/").content
        assert client.get(f"/admin/alerts/channel/{theirs.pk}/change/").status_code == 404
        # The action's notification is queued (with the inline task backend: sent) as it commits.
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post("/admin/alerts/channel/", {"action": "send_test", "_selected_action": [channel.pk]}, follow=True)
    assert answer.status_code == 200
    assert len(receiver.requests) == 1
    notification = Notification.objects.get()
    assert (notification.event, notification.status, notification.attempts) == ("test", "pending", 1)
    detail = client.get(f"/admin/alerts/notification/{notification.pk}/change/")
    assert detail.status_code == 200
    assert b"HTTP 503" in detail.content and b"answer 503" in detail.content
    assert client.get("/admin/alerts/notification/").status_code == 200


def test_the_admin_pages_are_for_organization_admins(client, owner, allow_private):
    viewer = member_account(organization_of(owner), "vera", Role.VIEWER)
    client.force_login(viewer)
    assert client.get("/admin/alerts/channel/").status_code == 403
    assert client.get("/admin/alerts/notification/").status_code == 403
