"""The work on a mention: its transitions (transitions.py says the rule; claims, replies, escalation, corrections,
sla_marks), reading queues, who is looking, replies going out, saved replies.
"""
