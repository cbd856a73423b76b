"""Signals of the stores layer, for the layers above it (which it may not import)."""
from django.dispatch import Signal

# Sent inside polls_record's transaction with `recovered`: {store pk: instant of
# its active poll} for stores that were down before the batch (or had an open
# incident: Store.incident_open) and whose latest poll is now active: their
# down run has ended. alerts resolves (or records) its incident.
store_recovered = Signal()
