from django.core.management.base import BaseCommand

from demo.scenario import demo_run


class Command(BaseCommand):
    help = "Drive the imported packages through every state with the real services (runs once)."

    def handle(self, *args, **options):
        report = demo_run()
        for line in report.lines():
            self.stdout.write(line)
