"""Typed SQLAlchemy models, one module per aggregate."""
from triage.db import Base
from triage.models.customer_priority import CustomerPriorityRule
from triage.models.customers import CustomerRecord
from triage.models.mentions import (
    Author,
    Customer,
    Event,
    Label,
    Mention,
    ModelVersion,
    Notification,
    Response,
    SavedReply,
)
from triage.models.people import Team, User
from triage.models.queues import Queue, RoutingRule, SlaPolicy
from triage.models.sources import DeadLetter, Delivery, Source
from triage.models.summaries import (
    ReportBucket,
    ReportDay,
    ReportEventDay,
    ReportPending,
    ReportPeriod,
    ReportStale,
)
from triage.models.tokens import ApiToken

__all__ = [
    "ApiToken", "Author", "Base", "Customer", "CustomerPriorityRule", "CustomerRecord", "DeadLetter", "Delivery",
    "Event", "Label", "Mention",
    "ModelVersion", "Notification", "Queue", "ReportBucket", "ReportDay", "ReportEventDay", "ReportPending",
    "ReportPeriod", "ReportStale", "Response", "RoutingRule", "SavedReply", "SlaPolicy", "Source", "Team", "User",
]
