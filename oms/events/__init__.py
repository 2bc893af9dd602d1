"""Domain events: the transactional outbox, its relay and the ordered event feed."""
