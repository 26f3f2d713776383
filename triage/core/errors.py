"""The errors a domain function raises. Each carries the HTTP status that says why, so every shell maps them alike."""
from __future__ import annotations


class WorkflowError(Exception):
    """A change that was refused; `status` is the HTTP status that says why."""

    status = 409


class NotFound(WorkflowError):
    status = 404


class Forbidden(WorkflowError):
    status = 403


class Invalid(WorkflowError):
    status = 400


class Conflict(WorkflowError):
    status = 409
