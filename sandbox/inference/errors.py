"""Errors of the inference surface, in the shape DigitalOcean's serverless inference answers
(OpenAI's: `{"error": {"message", "type", "code"}}`)."""

from __future__ import annotations

__all__ = ["InferenceError", "bad_request"]


class InferenceError(Exception):
    def __init__(self, status: int, message: str, kind: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "code": code}}


def bad_request(message: str, code: str) -> InferenceError:
    return InferenceError(400, message, "invalid_request_error", code)
