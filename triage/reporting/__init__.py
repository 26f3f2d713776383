"""What supervisors read: reports, their daily summaries, and server-rendered charts."""
