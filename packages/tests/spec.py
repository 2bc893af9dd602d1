"""The Package actions table of shared/domain/state-machine.md, typed in by hand.

Tests compare the code against this copy, so a transition edited in the model without the
spec (or the reverse) fails the build.
"""

ALL_STATES = {100, 200, 300, 400, 500, 550, 560, 600, 700, 710, 720, 800, 850, 900, 910, 920, 930}

# action: (sources, possible targets)
PACKAGE_ACTIONS = {
    "start_preparing": ({100}, {200}),
    "complete_packaging": ({100, 200, 400}, {500}),
    "report_missing": ({100, 200, 400}, {900}),
    "report_defective": ({100, 200, 400}, {910}),
    "ship": ({500}, {550, 560, 700}),
    "confirm_label_printed": ({550}, {560, 700}),
    # 560 -> 700; a data update (state unchanged) in 100–550
    "attach_invoice": ({560, 100, 200, 300, 400, 500, 550}, {700, 100, 200, 300, 400, 500, 550}),
    "mark_ready_for_pickup": ({500}, {600}),
    "hand_over": ({600}, {800}),
    "record_delivery_attempt": ({700, 720}, {720}),
    "mark_delivered": ({700, 710, 720}, {800}),
    "mark_delivery_failed": ({700, 720}, {710}),
    "reschedule": ({920}, {200}),
    "refuse": ({100, 200}, {930}),
    "reassign_location": ({920, 930}, {100, 300, 920}),
    "cancel": ({100, 920, 930}, {900}),
    "request_cancellation": ({200, 300, 400, 500, 550, 560, 600}, {850}),
    "confirm_cancellation": ({850}, {900}),
    "reject_cancellation": ({850}, {200, 300, 400, 500, 550, 560, 600}),
    "transfers_arrived": ({300}, {400}),
    "transfer_lost": ({300}, {930}),
}

WHO = {
    "start_preparing": "OA", "complete_packaging": "OA", "report_missing": "OA",
    "report_defective": "OA", "ship": "OA", "confirm_label_printed": "OA",
    "attach_invoice": "AS", "mark_ready_for_pickup": "OA", "hand_over": "OA",
    "record_delivery_attempt": "AS", "mark_delivered": "AS", "mark_delivery_failed": "AS",
    "reschedule": "OAS", "refuse": "OA", "reassign_location": "OAS", "cancel": "OA",
    "request_cancellation": "OA", "confirm_cancellation": "OA", "reject_cancellation": "OA",
    "transfers_arrived": "S", "transfer_lost": "S",
}
