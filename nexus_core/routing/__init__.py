"""Routing (LIDM): classify queries into task types and tiers, pick models, retry and fall back."""

from nexus_core.routing.classify import TASK_LABELS, Classification, TaskType, Tier, classify
from nexus_core.routing.router import Attempt, CallDone, Notice, RouteDecision, Router
from nexus_core.routing.table import Assignment, Price, RoutingTable, RoutingTableStore

__all__ = [
    "TASK_LABELS",
    "Assignment",
    "Attempt",
    "CallDone",
    "Classification",
    "Notice",
    "Price",
    "RouteDecision",
    "Router",
    "RoutingTable",
    "RoutingTableStore",
    "TaskType",
    "Tier",
    "classify",
]
