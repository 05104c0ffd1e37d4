"""DR-shaped refusals: the ``ErrorReply`` every request rule raises, and its error body."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
"""A wire-shaped JSON object."""

ERROR_TYPES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class ErrorReply(Exception):
    """A request DR would refuse: becomes ``{"type", "errors": [{code, parameter, message}]}``.

    Not an ``APIError``: the SDK's errors are what a client raises, this is what the
    emulator answers.
    """

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter

    def body(self) -> Json:
        return error_body(self.status, self.code, self.message, self.parameter)


def error_type(status: int) -> str:
    default = "internal_server_error" if status >= 500 else "bad_request"
    return ERROR_TYPES.get(status, default)


def error_body(status: int, code: str, message: str, parameter: str | None = None) -> Json:
    error: Json = {"code": code}
    if parameter is not None:
        error["parameter"] = parameter
    error["message"] = message
    return {"type": error_type(status), "errors": [error]}


def bad_request(code: str, message: str, parameter: str | None = None) -> ErrorReply:
    return ErrorReply(400, code, message, parameter)


def not_found(resource: str, object_id: str) -> ErrorReply:
    return ErrorReply(404, "not_found", f"{resource} '{object_id}' not found", "id")


def over_quantity(parameter: str, wanted: int, available: int) -> ErrorReply:
    return bad_request(
        "invalid_quantity_amount",
        f"Requested quantity {wanted} exceeds the {available} available.",
        parameter,
    )
