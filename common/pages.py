"""Shared by the server-rendered pages (dashboard, reports): the admin's context."""
from django.contrib import admin
from django.http import HttpRequest


def admin_context(request: HttpRequest, *, title: str) -> dict:
    """What admin/base_site.html needs (site header, user links, theme), plus a title.

    The admin's model sidebar is left out: these pages are not model pages.
    """
    return {**admin.site.each_context(request), "title": title, "is_nav_sidebar_enabled": False}
