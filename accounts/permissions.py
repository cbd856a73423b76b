from rest_framework.permissions import BasePermission

from .authentication import Device


class IsAccountUser(BasePermission):
    """A logged-in user (token or session); device keys are not enough."""

    message = "This endpoint needs a user's token or session; a store key may only post polls."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and not isinstance(user, Device))


class IsAccountUserOrDevice(BasePermission):
    """A logged-in user, or a store's device key."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)
