"""``python manage.py outbox_relay``: hand committed outbox events on (``oms.events.relay``)."""

import signal

from django.core.management.base import BaseCommand

from oms.events.relay import OutboxRelay


class Command(BaseCommand):
    help = ("Hand committed outbox events on to webhook fan-out and Celery, oldest first. "
            "Run one or more (they share the work through SKIP LOCKED); stops on SIGTERM.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="Drain what is committed now, then exit.")
        parser.add_argument("--batch", type=int, default=None,
                            help="Rows claimed per transaction (default OUTBOX_RELAY_BATCH).")
        parser.add_argument("--poll-seconds", type=float, default=None,
                            help="Pause after finding the outbox empty (default "
                                 "OUTBOX_RELAY_POLL_SECONDS).")

    def handle(self, *args, once=False, batch=None, poll_seconds=None, **options):
        relay = OutboxRelay(batch_size=batch, poll_seconds=poll_seconds)
        if once:
            handed = relay.drain()
            self.stdout.write(f"{handed} event(s) handed on")
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: relay.stop())
        relay.run()
