"""An operator's language and time zone: stored per user, applied to each request of the
operator screens; the API always answers in English."""
