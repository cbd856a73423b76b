"""What alerts does when the stores layer signals (stores.signals)."""
from django.dispatch import receiver

from stores.signals import store_recovered

from .services import incidents_resolve_recovered


@receiver(store_recovered)
def resolve_on_active_poll(sender, recovered, **kwargs) -> None:
    incidents_resolve_recovered(recovered=recovered)
