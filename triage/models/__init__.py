"""Typed SQLAlchemy models, one module per aggregate."""
from triage.db import Base
from triage.models.mentions import Author, Customer, Event, Mention, Response
from triage.models.people import ApiToken, Team, User
from triage.models.queues import Queue, RoutingRule
from triage.models.sources import Delivery, Source

__all__ = [
    "ApiToken", "Author", "Base", "Customer", "Delivery", "Event", "Mention", "Queue", "Response",
    "RoutingRule", "Source", "Team", "User",
]
