"""payment-client: a Python client for the payment service's gRPC API.

    from payment_client import PaymentClient, errors

    with PaymentClient("localhost:8080", api_key="sk_test_local") as client:
        payment = client.create_payment(1200, "EUR")
        client.capture(payment.payment_id)

`PaymentClient` (blocking) and `AsyncPaymentClient` (asyncio) take the API key, the deadline
and the retry policy once; create and process calls get an idempotency key that their retries
reuse; retries happen on UNAVAILABLE and ABORTED only, with exponential backoff and jitter;
errors are typed (`errors.NotFound`, `errors.InvalidArgument`, ...) and carry the service's
ErrorInfo reason and field violations. The protobuf stubs are generated into
`payment_client.gen` from the service's protos (no dependency on the service itself).
"""

from . import errors
from ._core import VERSION as __version__
from ._core import new_idempotency_key
from .aio import AsyncPaymentClient
from .errors import FieldViolation, PaymentServiceError
from .gen.payment.v1.events_pb2 import Event
from .gen.payment.v1.payment_pb2 import Payment
from .retry import NO_RETRY, RetryPolicy
from .sync import PaymentClient

__all__ = ["AsyncPaymentClient", "Event", "FieldViolation", "NO_RETRY", "Payment", "PaymentClient",
           "PaymentServiceError", "RetryPolicy", "__version__", "errors", "new_idempotency_key"]
