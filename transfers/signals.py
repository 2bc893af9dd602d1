"""What transfers tell the apps above them (a package waiting for the units), without
importing them. Every signal is sent inside the transfer action's transaction, the
package row already locked (``transfers.engine``)."""

from django.dispatch import Signal

# kwargs: transfer (In Transit, locked, about to be received). A receiver answers True when
# the transfer's package still waits for these units at the transfer's destination: they
# are then reserved for it. No receiver answering True: they enter the shelf unreserved.
transfer_arriving = Signal()
# kwargs: transfer (the Transfer now Transferred)
transfer_received = Signal()
# kwargs: transfer (the Transfer now Cancelled)
transfer_cancelled = Signal()
