"""The serverless-inference surface consumers call with a model access key, as DigitalOcean's
`https://inference.do-ai.run` serves it (docs/sandbox.md lists each endpoint): the route table
(`routes.py`), one module per endpoint family, and the errors' documented shape."""

from sandbox.inference.errors import InferenceError
from sandbox.inference.routes import ROUTES, InferenceState, Request, Route, Stream, find_route

__all__ = ["ROUTES", "InferenceError", "InferenceState", "Request", "Route", "Stream", "find_route"]
