"""Signals of the stores layer, for the layers above it (which it may not import)."""
from django.dispatch import Signal

# Sent inside polls_record's transaction with `recovered`: {store pk: instant of
# its active poll} for stores that had an open incident (Store.incident_open)
# and whose latest poll is now active. alerts resolves their incidents.
store_recovered = Signal()
