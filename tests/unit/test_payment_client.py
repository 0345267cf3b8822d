"""The payment-client library's own rules, without a network: the retry decisions, the error
table, and that it reads the rich error details exactly as the service writes them
(service/entrypoints/grpc/errors.py builds the google.rpc.Status here)."""

from __future__ import annotations

import random

import grpc
import pytest
from payment_client import RetryPolicy, _core, errors

from service.domain import errors as domain_errors
from service.entrypoints.grpc.errors import status_for

pytestmark = pytest.mark.unit


def trailers(status) -> list[tuple[str, bytes]]:
    return [("grpc-status-details-bin", status.SerializeToString())]


def test_every_grpc_status_but_ok_has_its_own_exception_class():
    assert set(errors.CLASSES) == set(grpc.StatusCode) - {grpc.StatusCode.OK}
    assert len(set(errors.CLASSES.values())) == len(errors.CLASSES)
    assert all(cls.__name__.lower() == code.name.replace("_", "").lower() for code, cls in errors.CLASSES.items())


def test_only_unavailable_and_aborted_are_retried():
    assert errors.RETRYABLE == {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}


def test_a_field_violation_from_the_service_becomes_invalid_argument_with_the_field():
    status = status_for(domain_errors.InvalidArgument("amount", "must be positive"))
    error = errors.from_status(grpc.StatusCode.INVALID_ARGUMENT, status.message, trailers(status))
    assert isinstance(error, errors.InvalidArgument)
    assert error.field_violations == (errors.FieldViolation("amount", "must be positive"),)
    assert error.reason == domain_errors.InvalidArgument.reason and error.domain == "payments.v1"


def test_a_decline_carries_its_reason_and_decline_code():
    declined = domain_errors.ProcessorDeclined("card declined", code="insufficient_funds")
    status = status_for(declined)
    error = errors.from_status(grpc.StatusCode.FAILED_PRECONDITION, status.message, trailers(status))
    assert isinstance(error, errors.FailedPrecondition) and not error.retryable
    assert error.reason == declined.reason and error.metadata == {"decline_code": "insufficient_funds"}


def test_a_status_without_details_still_maps_to_its_class():
    error = errors.from_status(grpc.StatusCode.UNAVAILABLE, "Socket closed", [("other", "x")], attempts=3)
    assert isinstance(error, errors.Unavailable) and error.retryable
    assert (error.reason, error.field_violations, error.attempts) == ("", (), 3)


def test_backoff_grows_exponentially_up_to_the_cap_with_full_jitter():
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0, multiplier=2.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(7)
    waits = [policy.backoff(4, rng) for _ in range(500)]
    assert all(0 <= w <= 0.8 for w in waits) and len(set(waits)) == 500
    assert 0.3 < sum(waits) / len(waits) < 0.5  # uniform on [0, 0.8]: mean 0.4


@pytest.mark.parametrize("bad", [dict(max_attempts=0), dict(initial_backoff=-1), dict(multiplier=0.5),
                                 dict(initial_backoff=2, max_backoff=1)])
def test_a_nonsense_policy_is_refused(bad):
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def attempts(timeout=10.0, **policy) -> tuple[_core.Attempts, Clock]:
    clock = Clock()
    settings = _core.Settings.build("x:1", "sk_test", timeout, RetryPolicy(**policy), None, None)
    return _core.Attempts(settings, random.Random(1), clock), clock


def unavailable() -> errors.PaymentServiceError:
    return errors.from_status(grpc.StatusCode.UNAVAILABLE, "down", None)


def test_retries_stop_after_max_attempts():
    loop, _ = attempts(max_attempts=3)
    decisions = []
    for _ in range(4):
        loop.start()
        decisions.append(loop.wait_before_retry(unavailable()))
    assert [d is not None for d in decisions] == [True, True, False, False]


def test_an_answer_is_never_retried():
    loop, _ = attempts()
    loop.start()
    for code in set(errors.CLASSES) - errors.RETRYABLE:
        assert loop.wait_before_retry(errors.from_status(code, "no", None)) is None, code


def test_the_deadline_covers_all_attempts_and_no_sleep_ends_past_it():
    loop, clock = attempts(timeout=1.0, initial_backoff=0.5, max_backoff=0.5)
    assert loop.start() == 1.0
    clock.now += 0.4
    wait = loop.wait_before_retry(unavailable())
    assert wait is not None and wait <= 0.5
    clock.now += wait
    assert loop.start() == pytest.approx(0.6 - wait)
    clock.now = 101.0  # the deadline: no attempt time left, and no retry
    assert loop.start() == 0.0 and loop.wait_before_retry(unavailable()) is None


def test_the_api_key_is_sent_as_a_bearer_token_and_never_shown():
    settings = _core.Settings.build("edge:8080", "sk_live_secret", 5.0, None, None, None)
    assert ("authorization", "Bearer sk_live_secret") in settings.metadata()
    assert ("idempotency-key", "k1") in settings.metadata("k1")
    assert "sk_live_secret" not in repr(settings)
    with pytest.raises(ValueError, match="api_key"):
        _core.Settings.build("edge:8080", "", 5.0, None, None, None)


def test_generated_idempotency_keys_are_unique():
    assert len({_core.new_idempotency_key() for _ in range(1000)}) == 1000


def test_enums_by_name_or_number_and_a_clear_error_otherwise():
    request = _core.list_payments_request(0, "", "captured", "")
    assert request.status == 2
    with pytest.raises(ValueError, match="status: 'PAID' is not one of REQUIRES_CAPTURE"):
        _core.list_payments_request(0, "", "PAID", "")


def test_the_wheel_carries_its_own_stubs_and_imports_without_the_service(tmp_path):
    import pathlib
    import subprocess
    import sys
    import zipfile

    root = pathlib.Path(__file__).resolve().parents[2]
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path), str(root / "clients/python")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("payment_client-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"payment_client/gen/payment/v1/payment_pb2_grpc.py", "payment_client/gen/payment/v1/events_pb2.pyi",
            "payment_client/py.typed"} <= names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    # a blocker for `service` and `gateway` proves the client needs neither
    (unpacked / "service.py").write_text("raise ImportError('the client must not import the service')\n")
    (unpacked / "gateway.py").write_text("raise ImportError('the client must not import the gateway')\n")
    probe = ("import payment_client, payment_client.gen.payment.v1.events_pb2_grpc as g; "
             "print(payment_client.__file__); print(g.EventServiceStub.__name__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(unpacked / "payment_client" / "__init__.py"), "EventServiceStub"]
