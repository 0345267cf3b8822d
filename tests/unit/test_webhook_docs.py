"""The verification snippet of docs/webhooks.md, run verbatim against the service's signer."""

from __future__ import annotations

import pathlib
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from service.config import WebhookSettings
from service.service_layer.delivery import DELIVERED, FAILED, GONE, RETRY, AttemptResult, decide
from service.service_layer.signing import new_secret, sign

pytestmark = pytest.mark.unit
DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def snippet():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_payment_signature"]


def test_the_documented_snippet_verifies_our_signatures_and_refuses_tampering():
    verify = snippet()
    secret, body, now = new_secret(), b'{"event_id":"evt_x","type":"payment.captured"}', int(time.time())
    header = sign(body, now, secret)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(body, header, secret)
    assert not verify(body + b" ", header, secret)
    assert not verify(body, header, new_secret())
    assert not verify(body, sign(body, now - 3600, secret), secret)  # too old: a replay
    rotated = sign(body, now, new_secret(), secret)  # during a rotation: two v1 entries
    assert verify(body, rotated, secret)


def test_backoff_grows_with_jitter_and_stops_after_the_window():
    settings = WebhookSettings(backoff_base_seconds=10, backoff_max_seconds=3600, retry_hours=72)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    failing = AttemptResult(500, 12.0, "HTTP 500")
    waits = [(decide(failing, n, start, start, settings).next_attempt_at - start).total_seconds() for n in (1, 2, 3)]
    assert 5 <= waits[0] < 15 and 10 <= waits[1] < 30 and 20 <= waits[2] < 60
    assert (decide(failing, 30, start, start, settings).next_attempt_at - start).total_seconds() < 3600 * 1.5
    assert decide(failing, 50, start, start + timedelta(days=3), settings).outcome == FAILED
    assert decide(AttemptResult(204, 3.0), 1, start, start, settings).outcome == DELIVERED
    assert decide(AttemptResult(410, 3.0), 1, start, start, settings).outcome == GONE
    assert decide(AttemptResult(0, 10000.0, "timeout"), 1, start, start, settings).outcome == RETRY
