"""The package tables of ``docs/state-machine.md``, as the tests use them (read from the
document by ``oms.tests.state_machine_doc``; nothing typed in by hand).

Tests compare the code against these, so a transition edited in the model without the
spec (or the reverse) fails the build.
"""

from oms.tests.state_machine_doc import package_spec

_SPEC = package_spec()

ALL_STATES = set(_SPEC.states)

# action: (sources, possible targets)
PACKAGE_ACTIONS = _SPEC.actions

# action: the letters of the "who" column (O operator, A integrator, S system)
WHO = _SPEC.who
