"""The transfer tables of ``docs/state-machine.md``, as the tests use them (read from the
document by ``oms.tests.state_machine_doc``; nothing typed in by hand).

Tests compare the code against these, so a transition edited in the model without the
spec (or the reverse) fails the build.
"""

from oms.tests.state_machine_doc import transfer_spec

_SPEC = transfer_spec()

# slug: label
STATES = _SPEC.states

# action: (sources, possible targets)
TRANSFER_ACTIONS = _SPEC.actions

# action: the letters of the "who" column (O operator, A integrator, S system)
WHO = _SPEC.who

# action: the stock location whose scope it needs ("source" or "destination")
SIDE = _SPEC.side
