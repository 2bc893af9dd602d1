"""The "Transfer states (6) and actions" tables of shared/domain/state-machine.md, typed in
by hand. Tests compare the code against this copy, so a transition edited in the model
without the spec (or the reverse) fails the build."""

STATES = {
    "waiting": "Waiting",
    "ready_to_shipment": "Ready To Shipment",
    "in_transit": "In Transit",
    "transferred": "Transferred",
    "cancellation_waiting": "Cancellation Waiting",
    "cancelled": "Cancelled",
}

# action: (sources, possible targets)
TRANSFER_ACTIONS = {
    "ready_for_dispatch": ({"waiting"}, {"ready_to_shipment"}),
    "dispatch": ({"waiting", "ready_to_shipment"}, {"in_transit"}),
    "receive": ({"in_transit"}, {"transferred"}),
    "cancel": ({"waiting"}, {"cancelled"}),
    "request_cancellation": ({"ready_to_shipment", "in_transit"}, {"cancellation_waiting"}),
    "confirm_cancellation": ({"cancellation_waiting"}, {"cancelled"}),
    # "the state before": only ready_to_shipment and in_transit can request cancellation
    "reject_cancellation": ({"cancellation_waiting"}, {"ready_to_shipment", "in_transit"}),
}
