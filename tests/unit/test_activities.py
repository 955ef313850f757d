"""Activities and spot checks: the model's checks and state changes (no store)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import attrs
import pendulum
import pytest

from finance_crm.errors import BusinessRuleViolation, ValidationError
from finance_crm.ids import ActivityId, CustomerId, ServiceTaskId, StaffId
from finance_crm.model.activities import (
    Activity,
    ActivityCancelled,
    ActivityCompleted,
    ActivityKind,
    ActivityOutcome,
    ActivityPlanned,
    ActivityStatus,
    SpotCheck,
    SpotCheckFinding,
    SpotCheckRecorded,
)
from finance_crm.model.customers import Channel

CUSTOMER = CustomerId(uuid.UUID("00000000-0000-7000-8000-000000000001"))
TASK = ServiceTaskId(uuid.UUID("00000000-0000-7000-9000-000000000001"))
NOW = pendulum.datetime(2025, 9, 29, 9, tz="Asia/Shanghai")
PLANNED_AT = pendulum.datetime(2025, 9, 30, 10, tz="Asia/Shanghai")
DONE_AT = pendulum.datetime(2025, 9, 29, 8, 30, tz="Asia/Shanghai")
NAIVE = datetime.datetime(2025, 9, 30, 10)
M1, M2 = StaffId("M1"), StaffId("M2")


def planned(**changes: Any) -> Activity:
    fields: dict[str, Any] = {
        "customer_id": CUSTOMER,
        "owner": M1,
        "kind": ActivityKind.CALL,
        "purpose": "Portfolio review",
        "planned_at": PLANNED_AT,
    }
    return Activity(**{**fields, **changes})


def completed(**changes: Any) -> Activity:
    fields: dict[str, Any] = {
        "status": ActivityStatus.COMPLETED,
        "planned_at": None,
        "completed_at": DONE_AT,
        "outcome": ActivityOutcome.ACHIEVED,
    }
    return planned(**{**fields, **changes})


def problem(error: ValidationError) -> str:
    (found,) = error.problems
    return found.path


# -- single fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"owner": ""}, "$.owner", id="blank-owner"),
        pytest.param({"owner": "M" * 41}, "$.owner", id="long-owner"),
        pytest.param({"owner": 7}, "$.owner", id="owner-not-text"),
        pytest.param({"kind": "call"}, "$.kind", id="kind-as-text"),
        pytest.param({"purpose": "  "}, "$.purpose", id="blank-purpose"),
        pytest.param({"purpose": "x" * 201}, "$.purpose", id="long-purpose"),
        pytest.param({"status": "planned"}, "$.status", id="status-as-text"),
        pytest.param({"planned_at": NAIVE}, "$.planned_at", id="naive-planned-at"),
        pytest.param({"planned_at": "2025-09-30T10:00"}, "$.planned_at", id="planned-at-text"),
        pytest.param({"duration_minutes": 0}, "$.duration_minutes", id="no-minutes"),
        pytest.param({"duration_minutes": 24 * 60 + 1}, "$.duration_minutes", id="over-a-day"),
        pytest.param({"duration_minutes": True}, "$.duration_minutes", id="bool-minutes"),
        pytest.param({"duration_minutes": 1.5}, "$.duration_minutes", id="float-minutes"),
        pytest.param({"participants": "M2"}, "$.participants", id="participants-as-text"),
        pytest.param({"participants": ["M2", " "]}, "$.participants", id="blank-participant"),
        pytest.param({"participants": ["M2", "M2"]}, "$.participants", id="participant-twice"),
        pytest.param({"participants": ["M2", "M1"]}, "$.participants", id="owner-participant"),
        pytest.param({"channel": "phone"}, "$.channel", id="channel-as-text"),
        pytest.param({"cancel_reason": "Abroad"}, "$.cancel_reason", id="reason-but-planned"),
        pytest.param({"planned_at": None}, "$.planned_at", id="planned-without-a-time"),
        pytest.param(
            {"next_step": "Call", "next_step_due": datetime.date(2025, 10, 9)},
            "$.next_step",
            id="next-step-before-done",
        ),
    ],
)
def test_planned_activity_fields_are_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        planned(**changes)
    assert problem(caught.value) == path


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"completed_at": NAIVE}, "$.completed_at", id="naive-completed-at"),
        pytest.param({"completed_at": None}, "$.completed_at", id="done-without-a-time"),
        pytest.param({"outcome": None}, "$.completed_at", id="done-without-outcome"),
        pytest.param({"outcome": "achieved"}, "$.outcome", id="outcome-as-text"),
        pytest.param(
            {"outcome": ActivityOutcome.DECLINED},
            "$.rejection_reason",
            id="declined-without-reason",
        ),
        pytest.param(
            {"rejection_reason": "Too risky"}, "$.rejection_reason", id="reason-without-declining"
        ),
        pytest.param(
            {"outcome": ActivityOutcome.DECLINED, "rejection_reason": " "},
            "$.rejection_reason",
            id="blank-rejection-reason",
        ),
        pytest.param({"notes": "x" * 2001}, "$.notes", id="long-notes"),
        pytest.param({"notes": ""}, "$.notes", id="empty-notes"),
        pytest.param(
            {"next_step": "Send the factsheet"}, "$.next_step_due", id="next-step-without-due"
        ),
        pytest.param(
            {"next_step_due": datetime.date(2025, 10, 9)},
            "$.next_step_due",
            id="due-without-next-step",
        ),
        pytest.param(
            {"next_step": " ", "next_step_due": datetime.date(2025, 10, 9)},
            "$.next_step",
            id="blank-next-step",
        ),
        pytest.param(
            {"next_step": "Call", "next_step_due": NOW},
            "$.next_step_due",
            id="next-step-due-as-instant",
        ),
        pytest.param({"cancel_reason": "Abroad"}, "$.cancel_reason", id="reason-but-done"),
    ],
)
def test_completed_activity_fields_are_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        completed(**changes)
    assert problem(caught.value) == path


def test_planned_with_an_outcome_or_cancelled_without_reason_is_refused() -> None:
    for changes, path in (
        ({"outcome": ActivityOutcome.ACHIEVED}, "$.completed_at"),
        ({"completed_at": DONE_AT}, "$.completed_at"),
        ({"status": ActivityStatus.CANCELLED}, "$.cancel_reason"),
        ({"status": ActivityStatus.CANCELLED, "cancel_reason": ""}, "$.cancel_reason"),
    ):
        with pytest.raises(ValidationError) as caught:
            planned(**changes)
        assert problem(caught.value) == path


def test_instants_are_kept_in_utc_and_dates_as_plain_dates() -> None:
    activity = completed(
        planned_at=PLANNED_AT,
        participants=iter([M2]),
        next_step="Send the factsheet",
        next_step_due=pendulum.date(2025, 10, 9),
    )
    assert activity.planned_at == datetime.datetime(2025, 9, 30, 2, tzinfo=datetime.UTC)
    assert (
        activity.planned_at is not None and activity.planned_at.utcoffset() == datetime.timedelta(0)
    )
    assert activity.completed_at == datetime.datetime(2025, 9, 29, 0, 30, tzinfo=datetime.UTC)
    assert type(activity.next_step_due) is datetime.date
    assert activity.participants == (M2,)


def test_notes_are_masked_in_repr() -> None:
    activity = completed(notes="张三丰 will add 500,000 next month")
    assert "张三丰" not in repr(activity) and "500,000" not in repr(activity)
    assert activity.notes == "张三丰 will add 500,000 next month"


# -- building and changing ----------------------------------------------------------------


def test_plan_raises_activity_planned() -> None:
    activity, events = Activity.plan(
        customer_id=CUSTOMER,
        owner=M1,
        kind=ActivityKind.VISIT,
        purpose="Quarter review",
        planned_at=PLANNED_AT,
        duration_minutes=60,
        participants=[M2],
        channel=Channel.BRANCH,
        task_id=TASK,
        at=NOW,
    )
    assert (activity.status, activity.version, activity.task_id) == (
        ActivityStatus.PLANNED,
        0,
        TASK,
    )
    assert events == [
        ActivityPlanned(
            occurred_at=NOW,
            event_id=events[0].event_id,
            activity_id=activity.id,
            customer_id=CUSTOMER,
            owner=M1,
            kind=ActivityKind.VISIT,
            planned_at=PLANNED_AT,
        )
    ]
    assert events[0].aggregate_id == str(activity.id)
    with pytest.raises(ValidationError) as caught:
        Activity.plan(
            customer_id=CUSTOMER,
            owner=M1,
            kind=ActivityKind.VISIT,
            purpose="Quarter review",
            planned_at=None,  # type: ignore[arg-type]
            at=NOW,
        )
    assert problem(caught.value) == "$.planned_at"


def test_record_is_completed_at_once_and_refuses_the_future() -> None:
    activity, events = Activity.record(
        customer_id=CUSTOMER,
        owner=M1,
        kind=ActivityKind.BRANCH_WALK_IN,
        purpose="Asked about rates",
        completed_at=DONE_AT,
        outcome=ActivityOutcome.CONTACTED,
        now=NOW,
        next_step="Send the rate sheet",
        next_step_due=datetime.date(2025, 10, 9),
    )
    assert (activity.status, activity.planned_at, activity.counts_as_contact) == (
        ActivityStatus.COMPLETED,
        None,
        True,
    )
    (event,) = events
    assert isinstance(event, ActivityCompleted)
    assert (event.outcome, event.completed_at, event.next_step_due, event.occurred_at) == (
        ActivityOutcome.CONTACTED,
        DONE_AT,
        datetime.date(2025, 10, 9),
        NOW,
    )
    with pytest.raises(ValidationError, match="cannot be completed in the future") as caught:
        Activity.record(
            customer_id=CUSTOMER,
            owner=M1,
            kind=ActivityKind.CALL,
            purpose="Later",
            completed_at=NOW + datetime.timedelta(seconds=1),
            outcome=ActivityOutcome.ACHIEVED,
            now=NOW,
        )
    assert problem(caught.value) == "$.completed_at"
    # exactly now is not the future
    now_done, _ = Activity.record(
        customer_id=CUSTOMER,
        owner=M1,
        kind=ActivityKind.CALL,
        purpose="Now",
        completed_at=NOW,
        outcome=ActivityOutcome.ACHIEVED,
        now=NOW,
    )
    assert now_done.completed_at == NOW


def test_complete_keeps_the_plan_and_adds_the_outcome() -> None:
    activity = planned(duration_minutes=30, participants=[M2], task_id=TASK, version=3)
    done, events = activity.complete(
        completed_at=DONE_AT,
        outcome=ActivityOutcome.DECLINED,
        rejection_reason="Prefers deposits",
        notes="Will think again in spring",
        now=NOW,
    )
    assert done == attrs.evolve(
        activity,
        status=ActivityStatus.COMPLETED,
        completed_at=DONE_AT,
        outcome=ActivityOutcome.DECLINED,
        rejection_reason="Prefers deposits",
        notes="Will think again in spring",
    )
    assert done.duration_minutes == 30 and done.version == 3  # the store moves the version
    assert [type(e) for e in events] == [ActivityCompleted]
    longer, _ = activity.complete(
        completed_at=DONE_AT, outcome=ActivityOutcome.ACHIEVED, duration_minutes=50, now=NOW
    )
    assert longer.duration_minutes == 50
    with pytest.raises(ValidationError) as caught:
        activity.complete(
            completed_at=NOW + datetime.timedelta(minutes=1),
            outcome=ActivityOutcome.ACHIEVED,
            now=NOW,
        )
    assert problem(caught.value) == "$.completed_at"
    with pytest.raises(ValidationError) as caught:
        activity.complete(completed_at=DONE_AT, outcome=ActivityOutcome.DECLINED, now=NOW)
    assert problem(caught.value) == "$.rejection_reason"


def test_only_a_planned_activity_changes() -> None:
    activity = planned()
    cancelled, events = activity.cancel(reason="The customer is abroad", at=NOW)
    assert (cancelled.status, cancelled.cancel_reason) == (
        ActivityStatus.CANCELLED,
        "The customer is abroad",
    )
    assert [type(e) for e in events] == [ActivityCancelled]
    moved, events = activity.reschedule(PLANNED_AT + datetime.timedelta(days=1), at=NOW)
    assert moved.planned_at == PLANNED_AT + datetime.timedelta(days=1)
    (event,) = events
    assert isinstance(event, ActivityPlanned) and event.planned_at == moved.planned_at
    done, _ = activity.complete(completed_at=DONE_AT, outcome=ActivityOutcome.ACHIEVED, now=NOW)
    for closed in (cancelled, done):
        with pytest.raises(BusinessRuleViolation, match=closed.status.value):
            closed.complete(completed_at=DONE_AT, outcome=ActivityOutcome.ACHIEVED, now=NOW)
        with pytest.raises(BusinessRuleViolation):
            closed.cancel(reason="Again", at=NOW)
        with pytest.raises(BusinessRuleViolation):
            closed.reschedule(PLANNED_AT, at=NOW)
    with pytest.raises(ValidationError) as caught:
        activity.cancel(reason=" ", at=NOW)
    assert problem(caught.value) == "$.cancel_reason"
    with pytest.raises(ValidationError) as caught:
        activity.reschedule(NAIVE, at=NOW)
    assert problem(caught.value) == "$.planned_at"


@pytest.mark.parametrize(
    ("outcome", "reached"),
    [
        (ActivityOutcome.ACHIEVED, True),
        (ActivityOutcome.CONTACTED, True),
        (ActivityOutcome.DECLINED, True),
        (ActivityOutcome.NO_CONTACT, False),
    ],
)
def test_only_a_reached_customer_counts_as_contact(outcome: ActivityOutcome, reached: bool) -> None:
    reason = "No" if outcome is ActivityOutcome.DECLINED else None
    assert outcome.reached_customer is reached
    assert completed(outcome=outcome, rejection_reason=reason).counts_as_contact is reached
    assert planned().counts_as_contact is False
    assert planned(status=ActivityStatus.CANCELLED, cancel_reason="x").counts_as_contact is False


# -- spot checks --------------------------------------------------------------------------


def check(**changes: Any) -> SpotCheck:
    fields: dict[str, Any] = {
        "activity_id": ActivityId(uuid.UUID("00000000-0000-7000-a000-000000000001")),
        "customer_id": CUSTOMER,
        "owner": M1,
        "checker": StaffId("SV1"),
        "checked_at": NOW,
        "finding": SpotCheckFinding.CONFIRMED,
    }
    return SpotCheck(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"checker": "M1"}, "$.checker", id="own-activity"),
        pytest.param({"checker": ""}, "$.checker", id="blank-checker"),
        pytest.param({"owner": " "}, "$.owner", id="blank-owner"),
        pytest.param({"checked_at": NAIVE}, "$.checked_at", id="naive-instant"),
        pytest.param({"finding": "confirmed"}, "$.finding", id="finding-as-text"),
        pytest.param({"finding": SpotCheckFinding.DISCREPANCY}, "$.notes", id="discrepancy"),
        pytest.param({"finding": SpotCheckFinding.UNVERIFIABLE}, "$.notes", id="unverifiable"),
        pytest.param({"notes": "x" * 2001}, "$.notes", id="long-notes"),
    ],
)
def test_spot_check_fields_are_checked(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check(**changes)
    assert problem(caught.value) == path


def test_a_spot_check_with_a_finding_says_what_was_found() -> None:
    found = check(finding=SpotCheckFinding.DISCREPANCY, notes="The customer was abroad that day")
    assert "abroad" not in repr(found)
    assert check().notes is None
    assert check().checked_at == datetime.datetime(2025, 9, 29, 1, tzinfo=datetime.UTC)
    event = SpotCheckRecorded(
        occurred_at=NOW,
        spot_check_id=found.id,
        activity_id=found.activity_id,
        owner=M1,
        finding=found.finding,
    )
    assert event.aggregate_id == str(found.activity_id)


def test_a_spot_check_needs_its_instant() -> None:
    with pytest.raises(ValidationError) as caught:
        check(checked_at=None)
    assert problem(caught.value) == "$.checked_at"
