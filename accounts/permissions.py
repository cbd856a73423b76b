from rest_framework.permissions import SAFE_METHODS, BasePermission

from .authentication import Device
from .models import ApiToken


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


class TokenAllowsMethod(BasePermission):
    """A read-only API token reads (GET, HEAD, OPTIONS) and nothing else."""

    message = "This API token is read-only: it may only read (GET)."
    code = "read_only_token"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        return not (isinstance(token, ApiToken) and token.read_only and request.method not in SAFE_METHODS)


class AdminOfSomeOrganization(BasePermission):
    """Endpoints for organization admins (members, channels): anyone else is
    told their role is too low (403 role_too_low), not shown an empty list."""

    def has_permission(self, request, view) -> bool:
        # Imported here: DRF loads this module while common.errors (which the
        # selectors' refusals use) is still importing rest_framework.views.
        from .models import Role
        from .selectors import RoleTooLow, holds_role_somewhere

        if not holds_role_somewhere(request.user, Role.ADMIN):
            raise RoleTooLow(Role.ADMIN, where="any of your organizations")
        return True
