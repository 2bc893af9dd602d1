"""REST API infrastructure: tokens, authentication and permissions, idempotency, error mapping, schema,
filters and pagination.
"""
