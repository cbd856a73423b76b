"""Admin mixins shared by the apps' model admins."""
from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest


class NotFoundOutsideQuerysetMixin:
    """An object the user may not see (another owner's) answers 404, exactly
    as one that does not exist, on its change, delete and history pages, as
    on the API and the pages: Django's admin would redirect to its index with
    "doesn't exist" for both, which tells nothing either, but 404 is the one
    answer everywhere. The object is looked up in get_queryset(), which
    already keeps to the user's own rows."""

    def _object_or_404(self, request: HttpRequest, object_id: str | None) -> None:
        # Only for users who may see some rows of the model: the others get
        # the admin's 403 whatever the id, as before, so no id can be probed.
        if (
            object_id is not None
            and self.has_view_or_change_permission(request)
            and self.get_object(request, unquote(object_id)) is None
        ):
            raise Http404(f"No {self.opts.verbose_name} with this id.")

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        self._object_or_404(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        self._object_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request: HttpRequest, object_id, extra_context=None):
        self._object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)
