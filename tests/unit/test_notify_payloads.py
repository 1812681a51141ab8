"""The notification payloads (components/notify_payloads.py) and the events a run raises
(components/notify.py): the generic document validates against docs/notification.schema.json for
every event, the Slack message keeps Slack's shape and limits and shows outside text literally, and
each event comes from typed outcomes exactly when it should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest

from components.audit import AuditReport, Finding, KeyRow, Severity
from components.bulk_rotation import Outcome, Status
from components.notify import OVERDUE_FINDING, overdue_notice, rotation_notices
from components.notify_payloads import (
    MAX_DETAIL,
    MAX_LISTED_KEYS,
    SCHEMA,
    SLACK_LISTED_KEYS,
    Event,
    KeyNotice,
    KeyStatus,
    Notice,
    PayloadFormat,
    Source,
    generic_payload,
    payload,
    slack_payload,
)

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD_SCHEMA = json.loads((ROOT / "docs" / "notification.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(PAYLOAD_SCHEMA)
AT = "2026-11-26T03:17:09Z"


def rotated(name: str = "chatbot-prod") -> KeyNotice:
    return KeyNotice(name, "apps/chatbot", KeyStatus.ROTATED, "requested", "", "b", "0123456789ab", 7)


def failed(name: str = "batch", detail: str = "DigitalOcean regenerate key batch: 500") -> KeyNotice:
    return KeyNotice(name, "apps/batch", KeyStatus.FAILED, "requested", detail)


def overdue(name: str = "search") -> KeyNotice:
    return KeyNotice(
        name,
        "apps/search",
        KeyStatus.OVERDUE,
        "rotation was due 2026-11-01",
        due_since="2026-11-01T00:00:00Z",
    )


NOTICES = {
    "rotation_succeeded": Notice(
        Event.ROTATION_SUCCEEDED, Source.ROTATE, "prod", AT, "a" * 32, "run123", False, (rotated(),)
    ),
    "rotation_failed": Notice(
        Event.ROTATION_FAILED, Source.ROTATE, "prod", AT, "b" * 32, "run123", False, (failed(),)
    ),
    "emergency": Notice(
        Event.EMERGENCY, Source.ROTATE, "prod", AT, "c" * 32, "run123", True, (rotated(), failed())
    ),
    "emergency_failed": Notice(
        Event.ROTATION_FAILED, Source.ROTATE, "prod", AT, "d" * 32, "run123", True, (failed(),)
    ),
    "overdue": Notice(
        Event.OVERDUE, Source.AUDIT, "prod", AT, "e" * 32, None, False, (overdue(), overdue("b"))
    ),
}


def schema_errors(document: dict[str, Any]) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(json.loads(json.dumps(document)))]


def test_the_payload_schema_is_valid_and_names_the_code_s_vocabulary() -> None:
    jsonschema.Draft202012Validator.check_schema(PAYLOAD_SCHEMA)
    assert PAYLOAD_SCHEMA["properties"]["schema"]["const"] == SCHEMA
    assert PAYLOAD_SCHEMA["properties"]["event"]["enum"] == list(Event)
    assert PAYLOAD_SCHEMA["properties"]["source"]["enum"] == list(Source)
    assert PAYLOAD_SCHEMA["$defs"]["key"]["properties"]["status"]["enum"] == list(KeyStatus)
    assert PAYLOAD_SCHEMA["properties"]["keys"]["maxItems"] == MAX_LISTED_KEYS
    assert set(PAYLOAD_SCHEMA["$defs"]["key"]["properties"]) == set(rotated().document())
    assert set(PAYLOAD_SCHEMA["properties"]) == set(generic_payload(NOTICES["overdue"]))


@pytest.mark.parametrize("notice", NOTICES.values(), ids=NOTICES.keys())
def test_every_event_s_generic_payload_validates(notice: Notice) -> None:
    document = generic_payload(notice)
    assert schema_errors(document) == []
    assert document["schema"] == SCHEMA and document["event"] == notice.event
    assert document["keys_total"] == len(notice.keys) == len(document["keys"])


def test_the_schema_refuses_what_v1_does_not_say() -> None:
    good = generic_payload(NOTICES["rotation_succeeded"])
    assert schema_errors({**good, "schema": "gradient-keys.notification/v2"})
    assert schema_errors({**good, "event": "rotation_started"})
    assert schema_errors({**good, "keys": []})
    assert schema_errors({**good, "keys": [{**good["keys"][0], "fingerprint": "not-hex"}]})
    overdue_doc = generic_payload(NOTICES["overdue"])
    assert schema_errors({**overdue_doc, "source": "rotate"})  # overdue comes from the audit


def test_a_generic_payload_lists_at_most_its_limit_and_counts_them_all() -> None:
    keys = tuple(rotated(f"k{i}") for i in range(MAX_LISTED_KEYS + 1))
    notice = Notice(Event.ROTATION_SUCCEEDED, Source.ROTATE, "prod", AT, "f" * 32, "run", False, keys)
    document = generic_payload(notice)
    assert len(document["keys"]) == MAX_LISTED_KEYS and document["keys_total"] == MAX_LISTED_KEYS + 1
    assert schema_errors(document) == []


def test_details_are_bounded_and_one_line() -> None:
    notice = NOTICES["rotation_failed"]
    long = Notice(
        notice.event, notice.source, "prod", AT, "0" * 32, "r", False, (failed(detail="x\n" * 2000),)
    )
    detail = generic_payload(long)["keys"][0]["detail"]
    assert len(detail) <= MAX_DETAIL and "\n" not in detail


# -- Slack --------------------------------------------------------------------------------------------
def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """The texts Slack parses for mentions and links: `text`, and every mrkdwn text object."""
    texts = [message["text"]]
    for block in message["blocks"]:
        objects = [block["text"]] if "text" in block else block.get("elements", [])
        texts += [o["text"] for o in objects if o["type"] == "mrkdwn"]
    return texts


@pytest.mark.parametrize("notice", NOTICES.values(), ids=NOTICES.keys())
def test_every_event_s_slack_message_has_slack_s_shape(notice: Notice) -> None:
    message = slack_payload(notice)
    assert set(message) == {"text", "blocks"} and isinstance(message["text"], str) and message["text"]
    assert 1 <= len(message["blocks"]) <= 50
    header, section, context = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert len(section["text"]["text"]) <= 3000
    assert context["type"] == "context" and context["elements"][0]["type"] == "mrkdwn"
    assert "prod" in message["text"] and notice.keys[0].key in section["text"]["text"]


def test_slack_shows_outside_text_literally() -> None:
    """A key or stack named with Slack's control syntax is shown, not obeyed: no `<!channel>`
    mention, no link; and a backtick cannot end the code span a name is shown in."""
    hostile = "<!channel> & <https://evil.example|click>`*x*"
    notice = Notice(
        Event.ROTATION_FAILED,
        Source.ROTATE,
        "<!here>",
        AT,
        "1" * 32,
        "r",
        False,
        (failed(hostile, detail="<@U123> & more"),),
    )
    message = slack_payload(notice)
    joined = "\n".join(mrkdwn_texts(message))
    assert "<" not in joined and ">" not in joined
    assert message["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "Key rotation FAILED: stack <!here>",
    }
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'*x*" in joined
    assert "&lt;@U123&gt; &amp; more" in joined


def test_slack_names_the_first_keys_then_counts_the_rest() -> None:
    keys = tuple(rotated(f"key-{i:02d}") for i in range(SLACK_LISTED_KEYS + 5))
    notice = Notice(Event.ROTATION_SUCCEEDED, Source.ROTATE, "prod", AT, "2" * 32, "run", False, keys)
    section = slack_payload(notice)["blocks"][1]["text"]["text"]
    assert f"key-{SLACK_LISTED_KEYS - 1:02d}" in section and f"key-{SLACK_LISTED_KEYS:02d}" not in section
    assert "... and 5 more" in section


def test_a_slack_message_of_long_failures_stays_under_slack_s_limit() -> None:
    keys = tuple(failed("n" * 120, detail="<" * 500) for _ in range(SLACK_LISTED_KEYS))
    notice = Notice(Event.ROTATION_FAILED, Source.ROTATE, "prod", AT, "3" * 32, "run", False, keys)
    assert len(slack_payload(notice)["blocks"][1]["text"]["text"]) <= 3000


def test_payload_picks_the_target_s_format() -> None:
    notice = NOTICES["overdue"]
    assert payload(notice, PayloadFormat.GENERIC) == generic_payload(notice)
    assert payload(notice, PayloadFormat.SLACK) == slack_payload(notice)


# -- which events a run raises ----------------------------------------------------------------------
def outcome(key: str, status: Status, **fields: Any) -> Outcome:
    return Outcome(key, f"apps/{key}", "requested", status, **fields)


def events_of(notices: list[Notice]) -> dict[str, list[tuple[str, str]]]:
    return {n.event: [(k.key, k.status) for k in n.keys] for n in notices}


RUN = [
    outcome("done", Status.ROTATED, active_slot="b", fingerprint="0123456789ab", vault_version=3),
    outcome("broken", Status.FAILED, detail="DigitalOcean regenerate key broken-slot-a: 500"),
    outcome("skipped", Status.NOT_DUE),
    outcome("earlier", Status.ALREADY_DONE),
    outcome("planned", Status.PLANNED),
]


def test_a_run_tells_its_rotated_and_its_failed_keys() -> None:
    notices = rotation_notices("prod", "run1", emergency=False, outcomes=RUN, occurred_at=AT)
    assert events_of(notices) == {
        "rotation_succeeded": [("done", "rotated")],
        "rotation_failed": [("broken", "failed")],
    }
    succeeded, failures = notices
    assert succeeded.keys[0].fingerprint == "0123456789ab" and succeeded.keys[0].active_slot == "b"
    assert failures.keys[0].detail.endswith(": 500") and succeeded.keys[0].detail == ""
    assert succeeded.notice_id != failures.notice_id and {succeeded.run_id, failures.run_id} == {"run1"}


def test_an_emergency_tells_every_key_it_tried_and_its_failures() -> None:
    notices = rotation_notices("prod", "run2", emergency=True, outcomes=RUN, occurred_at=AT)
    assert events_of(notices) == {
        "emergency": [("done", "rotated"), ("broken", "failed")],
        "rotation_failed": [("broken", "failed")],
    }
    assert all(n.emergency for n in notices)
    assert all(schema_errors(generic_payload(n)) == [] for n in notices)


@pytest.mark.parametrize("emergency", [False, True])
def test_a_run_that_rotated_nothing_and_failed_nothing_tells_nothing(emergency: bool) -> None:
    quiet = [o for o in RUN if o.status not in (Status.ROTATED, Status.FAILED)]
    assert rotation_notices("prod", "run3", emergency=emergency, outcomes=quiet, occurred_at=AT) == []


def audit_report(*findings: Finding) -> AuditReport:
    report = AuditReport("prod", AT, False)
    report.findings = list(findings)
    report.keys = [
        KeyRow("chatbot", "apps/chatbot", "dual-slot", next_rotation="2026-11-01T00:00:00Z"),
        KeyRow("batch", "apps/batch", "in-place"),
    ]
    return report


def test_an_audit_tells_its_overdue_keys_only() -> None:
    report = audit_report(
        Finding(
            OVERDUE_FINDING, Severity.MEDIUM, "chatbot", "rotation was due 2026-11-01", "fix", "apps/chatbot"
        ),
        Finding(
            OVERDUE_FINDING, Severity.MEDIUM, "batch", "rotated_at 'x' is unreadable", "fix", "apps/batch"
        ),
        Finding("missing-slot", Severity.CRITICAL, "chatbot", "m", "f", "apps/chatbot"),
        Finding("rotation-due-soon", Severity.INFO, "batch", "m", "f", "apps/batch"),
    )
    notice = overdue_notice(report)
    assert notice is not None and notice.event is Event.OVERDUE and notice.source is Source.AUDIT
    assert [(k.key, k.status, k.due_since) for k in notice.keys] == [
        ("chatbot", "overdue", "2026-11-01T00:00:00Z"),
        ("batch", "overdue", None),  # its rotation time is unreadable: no date to give
    ]
    assert schema_errors(generic_payload(notice)) == []


def test_an_audit_without_overdue_keys_tells_nothing() -> None:
    assert (
        overdue_notice(audit_report(Finding("missing-slot", Severity.CRITICAL, "chatbot", "m", "f"))) is None
    )


def test_control_characters_from_outside_are_shown_escaped_in_slack() -> None:
    """A chat shows text: controls (terminal escapes, bidirectional overrides) are shown escaped.
    The generic document carries its values as data (JSON escapes them on the wire)."""
    notice = Notice(
        Event.ROTATION_FAILED,
        Source.ROTATE,
        "prod\u202e",
        AT,
        "4" * 32,
        "r",
        False,
        (failed("evil\x1b[2J", detail="bad\x07\nthing"),),
    )
    text = json.dumps(slack_payload(notice), ensure_ascii=False)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "`evil\\x1b[2J` FAILED: bad\\x07 thing" in slack_payload(notice)["blocks"][1]["text"]["text"]
    assert generic_payload(notice)["keys"][0]["detail"] == "bad\\x07 thing"
