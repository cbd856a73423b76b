"""/ is the front door: the dashboard for a logged-in person, the login page (then the dashboard) for anyone else."""
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_anyone_is_sent_to_the_login_page_and_then_the_dashboard():
    response = Client().get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/dashboard/")


def test_a_logged_in_person_is_sent_to_the_dashboard(owner):
    client = Client()
    client.force_login(owner)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/dashboard/")


def test_the_dashboard_header_shows_the_organizations_and_roles(owner):
    client = Client()
    client.force_login(owner)
    page = client.get("/dashboard/").content.decode()
    assert '<span class="monitor-roles" id="member-roles">alice: admin</span>' in page
