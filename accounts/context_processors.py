"""The user's organizations and roles for page headers, read only by templates that show them."""
from __future__ import annotations

from functools import partial

from django.http import HttpRequest

from .selectors import roles_summary


def member_roles(request: HttpRequest) -> dict:
    # A callable: the template engine calls it where a page shows it, so other pages pay no query.
    return {"member_roles": partial(roles_summary, request.user)}
