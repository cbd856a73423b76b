"""Signals of the stores layer, for the layers above it (which it may not import)."""
from django.dispatch import Signal

# Sent inside polls_record's transaction with `recovered`: {store pk: the
# instants, in order, of the batch's active polls that ended one of its down
# runs (stores.services._run_ends)}. alerts resolves (or records) their incidents.
store_recovered = Signal()
