"""Two admins of an organization demoting (or removing) each other at the
same moment: one change wins, the other is refused, and the organization
keeps an active admin (PostgreSQL: SQLite serialises writers, so it cannot
show the race). membership_change and membership_remove lock the
organization's admins' rows before counting them."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import Membership, Role
from accounts.services import LastAdmin, membership_change, membership_remove
from stores.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 20


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (row locks under concurrent writers); the database is {connection.vendor}")


def at_once(*actions) -> list[str]:
    """Run the actions in threads released together; each one's outcome: "done" or "last_admin"."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = [""] * len(actions)

    def run(index: int, action) -> None:
        try:
            barrier.wait(timeout=30)
            action()
            outcomes[index] = "done"
        except LastAdmin:
            outcomes[index] = "last_admin"
        except BaseException as exc:  # shown in the assertion below, not lost in the thread
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, action)) for index, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("how", ["demote", "deactivate", "remove"])
def test_two_admins_taking_each_other_off_at_once_leave_one_admin(how):
    for round_ in range(ROUNDS):
        organization = OrganizationFactory(name=f"acme-{how}-{round_}")
        first, second = (MembershipFactory(organization=organization, role=Role.ADMIN) for _ in range(2))

        def take_off(membership: Membership):
            if how == "demote":
                return lambda: membership_change(membership=Membership.objects.get(pk=membership.pk), role=Role.VIEWER)
            if how == "deactivate":
                return lambda: membership_change(membership=Membership.objects.get(pk=membership.pk), is_active=False)
            return lambda: membership_remove(membership=Membership.objects.get(pk=membership.pk))

        outcomes = at_once(take_off(first), take_off(second))
        assert sorted(outcomes) == ["done", "last_admin"], outcomes
        assert Membership.objects.filter(organization=organization, role=Role.ADMIN, is_active=True).count() == 1
