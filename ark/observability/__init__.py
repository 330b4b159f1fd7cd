"""What the server tells operators about itself: Prometheus metrics (and, later, request logs)."""
