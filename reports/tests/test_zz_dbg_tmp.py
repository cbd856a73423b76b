import pytest
from django.contrib.auth.models import Group
from django.db import connection
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

def test_dbg():
    c = getattr(connection, "_test_serialized_contents", None)
    print("\nHAS", c is not None, len(c or ""), "owners" in (c or ""), list(Group.objects.values_list("name", flat=True)))
