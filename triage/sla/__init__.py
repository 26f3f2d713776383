"""Service levels: the clock (business hours), policies and due times (deadlines), the scheduled check, settings."""
