import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    REQUIRES_CAPTURE: _ClassVar[PaymentStatus]
    CAPTURED: _ClassVar[PaymentStatus]
    PARTIALLY_REFUNDED: _ClassVar[PaymentStatus]
    REFUNDED: _ClassVar[PaymentStatus]
    CANCELED: _ClassVar[PaymentStatus]
    FAILED: _ClassVar[PaymentStatus]
    PROCESSING: _ClassVar[PaymentStatus]

class CaptureMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPTURE_METHOD_UNSPECIFIED: _ClassVar[CaptureMethod]
    MANUAL: _ClassVar[CaptureMethod]
    AUTOMATIC: _ClassVar[CaptureMethod]

class PaymentAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_ACTION_UNSPECIFIED: _ClassVar[PaymentAction]
    CAPTURE: _ClassVar[PaymentAction]
    REFUND: _ClassVar[PaymentAction]
    CANCEL: _ClassVar[PaymentAction]

class DisputeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPUTE_STATUS_UNSPECIFIED: _ClassVar[DisputeStatus]
    WARNING_NEEDS_RESPONSE: _ClassVar[DisputeStatus]
    WARNING_UNDER_REVIEW: _ClassVar[DisputeStatus]
    WARNING_CLOSED: _ClassVar[DisputeStatus]
    NEEDS_RESPONSE: _ClassVar[DisputeStatus]
    UNDER_REVIEW: _ClassVar[DisputeStatus]
    WON: _ClassVar[DisputeStatus]
    LOST: _ClassVar[DisputeStatus]

class RefundStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFUND_STATUS_UNSPECIFIED: _ClassVar[RefundStatus]
    REFUND_PENDING: _ClassVar[RefundStatus]
    REFUND_SUCCEEDED: _ClassVar[RefundStatus]
    REFUND_FAILED: _ClassVar[RefundStatus]
    REFUND_CANCELED: _ClassVar[RefundStatus]
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
REQUIRES_CAPTURE: PaymentStatus
CAPTURED: PaymentStatus
PARTIALLY_REFUNDED: PaymentStatus
REFUNDED: PaymentStatus
CANCELED: PaymentStatus
FAILED: PaymentStatus
PROCESSING: PaymentStatus
CAPTURE_METHOD_UNSPECIFIED: CaptureMethod
MANUAL: CaptureMethod
AUTOMATIC: CaptureMethod
PAYMENT_ACTION_UNSPECIFIED: PaymentAction
CAPTURE: PaymentAction
REFUND: PaymentAction
CANCEL: PaymentAction
DISPUTE_STATUS_UNSPECIFIED: DisputeStatus
WARNING_NEEDS_RESPONSE: DisputeStatus
WARNING_UNDER_REVIEW: DisputeStatus
WARNING_CLOSED: DisputeStatus
NEEDS_RESPONSE: DisputeStatus
UNDER_REVIEW: DisputeStatus
WON: DisputeStatus
LOST: DisputeStatus
REFUND_STATUS_UNSPECIFIED: RefundStatus
REFUND_PENDING: RefundStatus
REFUND_SUCCEEDED: RefundStatus
REFUND_FAILED: RefundStatus
REFUND_CANCELED: RefundStatus

class Payment(_message.Message):
    __slots__ = ("payment_id", "merchant_id", "amount", "currency", "status", "capture_method", "payment_method", "customer_id", "description", "metadata", "processor", "processor_reference", "amount_captured", "amount_refunded", "refunds", "failure_code", "failure_message", "create_time", "update_time", "amount_disputed", "disputes", "review_reason")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_METHOD_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROCESSOR_FIELD_NUMBER: _ClassVar[int]
    PROCESSOR_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CAPTURED_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DISPUTED_FIELD_NUMBER: _ClassVar[int]
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REASON_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    status: PaymentStatus
    capture_method: CaptureMethod
    payment_method: str
    customer_id: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    processor: str
    processor_reference: str
    amount_captured: int
    amount_refunded: int
    refunds: _containers.RepeatedCompositeFieldContainer[Refund]
    failure_code: str
    failure_message: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    amount_disputed: int
    disputes: _containers.RepeatedCompositeFieldContainer[Dispute]
    review_reason: str
    def __init__(self, payment_id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., capture_method: _Optional[_Union[CaptureMethod, str]] = ..., payment_method: _Optional[str] = ..., customer_id: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., processor: _Optional[str] = ..., processor_reference: _Optional[str] = ..., amount_captured: _Optional[int] = ..., amount_refunded: _Optional[int] = ..., refunds: _Optional[_Iterable[_Union[Refund, _Mapping]]] = ..., failure_code: _Optional[str] = ..., failure_message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount_disputed: _Optional[int] = ..., disputes: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ..., review_reason: _Optional[str] = ...) -> None: ...

class Dispute(_message.Message):
    __slots__ = ("dispute_id", "amount", "reason", "status", "evidence_due_by", "evidence_submitted", "processor_reference", "create_time", "update_time")
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_DUE_BY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    PROCESSOR_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    dispute_id: str
    amount: int
    reason: str
    status: DisputeStatus
    evidence_due_by: _timestamp_pb2.Timestamp
    evidence_submitted: bool
    processor_reference: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, dispute_id: _Optional[str] = ..., amount: _Optional[int] = ..., reason: _Optional[str] = ..., status: _Optional[_Union[DisputeStatus, str]] = ..., evidence_due_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence_submitted: _Optional[bool] = ..., processor_reference: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DisputeEvidence(_message.Message):
    __slots__ = ("product_description", "customer_name", "customer_email_address", "customer_communication", "refund_policy_disclosure", "refund_refusal_explanation", "service_date", "shipping_tracking_number", "uncategorized_text")
    PRODUCT_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_EMAIL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_COMMUNICATION_FIELD_NUMBER: _ClassVar[int]
    REFUND_POLICY_DISCLOSURE_FIELD_NUMBER: _ClassVar[int]
    REFUND_REFUSAL_EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DATE_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    UNCATEGORIZED_TEXT_FIELD_NUMBER: _ClassVar[int]
    product_description: str
    customer_name: str
    customer_email_address: str
    customer_communication: str
    refund_policy_disclosure: str
    refund_refusal_explanation: str
    service_date: str
    shipping_tracking_number: str
    uncategorized_text: str
    def __init__(self, product_description: _Optional[str] = ..., customer_name: _Optional[str] = ..., customer_email_address: _Optional[str] = ..., customer_communication: _Optional[str] = ..., refund_policy_disclosure: _Optional[str] = ..., refund_refusal_explanation: _Optional[str] = ..., service_date: _Optional[str] = ..., shipping_tracking_number: _Optional[str] = ..., uncategorized_text: _Optional[str] = ...) -> None: ...

class SubmitDisputeEvidenceRequest(_message.Message):
    __slots__ = ("payment_id", "dispute_id", "evidence", "submit", "request_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    dispute_id: str
    evidence: DisputeEvidence
    submit: bool
    request_id: str
    def __init__(self, payment_id: _Optional[str] = ..., dispute_id: _Optional[str] = ..., evidence: _Optional[_Union[DisputeEvidence, _Mapping]] = ..., submit: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitDisputeEvidenceResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class CloseDisputeRequest(_message.Message):
    __slots__ = ("payment_id", "dispute_id", "request_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    dispute_id: str
    request_id: str
    def __init__(self, payment_id: _Optional[str] = ..., dispute_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CloseDisputeResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("refund_id", "amount", "reason", "create_time", "status", "failure_reason")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    amount: int
    reason: str
    create_time: _timestamp_pb2.Timestamp
    status: RefundStatus
    failure_reason: str
    def __init__(self, refund_id: _Optional[str] = ..., amount: _Optional[int] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[RefundStatus, str]] = ..., failure_reason: _Optional[str] = ...) -> None: ...

class CreatePaymentRequest(_message.Message):
    __slots__ = ("amount", "currency", "payment_method", "capture_method", "customer_id", "description", "metadata", "processor", "request_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_METHOD_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROCESSOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency: str
    payment_method: str
    capture_method: CaptureMethod
    customer_id: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    processor: str
    request_id: str
    def __init__(self, amount: _Optional[int] = ..., currency: _Optional[str] = ..., payment_method: _Optional[str] = ..., capture_method: _Optional[_Union[CaptureMethod, str]] = ..., customer_id: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., processor: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreatePaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class GetPaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "customer_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: PaymentStatus
    customer_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., customer_id: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ProcessPaymentRequest(_message.Message):
    __slots__ = ("payment_id", "action", "amount", "reason", "request_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    action: PaymentAction
    amount: int
    reason: str
    request_id: str
    def __init__(self, payment_id: _Optional[str] = ..., action: _Optional[_Union[PaymentAction, str]] = ..., amount: _Optional[int] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ProcessPaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class HealthCheckRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status", "version", "components")
    class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SERVING_STATUS_UNSPECIFIED: _ClassVar[HealthCheckResponse.ServingStatus]
        SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
        NOT_SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
    SERVING_STATUS_UNSPECIFIED: HealthCheckResponse.ServingStatus
    SERVING: HealthCheckResponse.ServingStatus
    NOT_SERVING: HealthCheckResponse.ServingStatus
    class ComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    status: HealthCheckResponse.ServingStatus
    version: str
    components: _containers.ScalarMap[str, str]
    def __init__(self, status: _Optional[_Union[HealthCheckResponse.ServingStatus, str]] = ..., version: _Optional[str] = ..., components: _Optional[_Mapping[str, str]] = ...) -> None: ...
