"""Dispatch (services/common/handlers.py): each event to the method named for its type, each handler its
own events in ``prepare``, an unnamed type skipped."""

from __future__ import annotations

from services.common.envelope import Event
from services.common.handlers import Dispatch, TopicHandler, method_name

CONN = object()  # the inbox transaction's connection; the handlers below only pass it on


def _event(type: str) -> Event:
    """Dispatch reads only the type; the data's validation is the envelope's (tests/unit/test_envelope.py)."""
    return Event(id="e", type=type, version=1, occurred_at="", producer="test", trace_id="", key="k")


class Posts(TopicHandler):
    def __init__(self) -> None:
        self.prepared: list[str] = []
        self.applied: list[tuple[object, str]] = []

    async def prepare(self, events: list[Event]) -> None:
        self.prepared.extend(e.type for e in events)

    async def on_post_created(self, conn: object, event: Event) -> None:
        self.applied.append((conn, event.type))

    async def on_post_edited(self, conn: object, event: Event) -> None:
        self.applied.append((conn, event.type))


class Reports(TopicHandler):
    def __init__(self) -> None:
        self.applied: list[str] = []

    async def on_report_created(self, conn: object, event: Event) -> None:
        self.applied.append(event.type)


def test_the_method_name_follows_the_event_type() -> None:
    assert method_name("decision.made") == "on_decision_made"
    assert method_name("account.role_changed") == "on_account_role_changed"


async def test_each_event_reaches_the_method_named_for_its_type_with_the_connection() -> None:
    posts, reports = Posts(), Reports()
    dispatch = Dispatch(posts, reports)
    for type in ("post.created", "report.created", "post.edited"):
        await dispatch.apply(CONN, _event(type))  # type: ignore[arg-type]
    assert posts.applied == [(CONN, "post.created"), (CONN, "post.edited")]
    assert reports.applied == ["report.created"]


async def test_prepare_gives_each_handler_only_its_own_events_and_skips_idle_ones() -> None:
    posts, reports = Posts(), Reports()
    await Dispatch(posts, reports).prepare([_event("report.created"), _event("post.created"),
                                            _event("post.deleted"), _event("post.edited")])
    assert posts.prepared == ["post.created", "post.edited"]

    idle = Posts()
    await Dispatch(idle, reports).prepare([_event("report.created")])
    assert idle.prepared == []


async def test_a_type_no_handler_names_is_skipped_not_failed() -> None:
    posts = Posts()
    await Dispatch(posts).apply(CONN, _event("post.deleted"))  # type: ignore[arg-type]
    assert posts.applied == []
