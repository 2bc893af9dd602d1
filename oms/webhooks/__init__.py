"""Webhooks: subscriptions, signed deliveries with retries, their admin, REST endpoints and tasks."""
