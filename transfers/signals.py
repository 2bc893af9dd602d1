"""What transfers tell the apps above them (a package waiting for the units), without
importing them: sent inside the transfer action's transaction, after its row is written."""

from django.dispatch import Signal

# kwargs: transfer (the Transfer now Transferred)
transfer_received = Signal()
# kwargs: transfer (the Transfer now Cancelled)
transfer_cancelled = Signal()
