"""E-mail outbox and its delivery worker."""
