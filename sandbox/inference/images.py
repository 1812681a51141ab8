"""`POST /v1/images/generations`: image generation as DigitalOcean documents it, deterministic.

Image models only (`openai-gpt-image-1`). `n` is 1 to 10 and `size` one of the three documented
sizes; each image is a real PNG of that size, one solid colour chosen from the prompt and the
image's index, in `data[].b64_json` (gpt-image-1 answers base64 only). `usage` counts the prompt's
tokens (words) and the image tokens gpt-image-1 bills at medium quality (1056 per 1024x1024 image,
in proportion to the area for the smaller sizes).
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from sandbox.inference.catalogue import require_model
from sandbox.inference.errors import bad_request
from sandbox.inference.fields import json_object, optional_bool, optional_choice, optional_int
from sandbox.inference.png import solid_png
from sandbox.inference.tokens import count_tokens, digest

if TYPE_CHECKING:
    from sandbox.inference.routes import Answer, Request

__all__ = ["SIZES", "generate_images"]

SIZES = ("256x256", "512x512", "1024x1024")
TOKENS_PER_MEGAPIXEL = 1056  # gpt-image-1, medium quality, one 1024x1024 image
QUALITIES = ("low", "medium", "high", "auto")
BACKGROUNDS = ("transparent", "opaque", "auto")


def generate_images(request: Request) -> Answer:
    body = json_object(request.body)
    model = require_model(body.get("model"), "/v1/images/generations")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("prompt is required and must be a non-empty string", "invalid_prompt")
    n = optional_int(body, "n", 1, 10) or 1
    size = optional_choice(body, "size", SIZES) or "1024x1024"
    quality = optional_choice(body, "quality", QUALITIES) or "auto"
    background = optional_choice(body, "background", BACKGROUNDS) or "auto"
    _refuse_unemulated(body)
    side = int(size.split("x")[0])
    seed = digest("image", model.id, prompt, size)
    images = [_image(side, seed, index) for index in range(n)]
    input_tokens = count_tokens(prompt)
    output_tokens = n * TOKENS_PER_MEGAPIXEL * side * side // (1024 * 1024)
    return 200, {
        "created": int(time.time()),
        "data": [{"b64_json": image} for image in images],
        "background": "opaque" if background == "auto" else background,
        "output_format": "png",
        "quality": "medium" if quality == "auto" else quality,
        "size": size,
        "usage": {
            "input_tokens": input_tokens,
            # image_tokens is not in DigitalOcean's example; OpenAI's SDK requires it.
            "input_tokens_details": {"text_tokens": input_tokens, "image_tokens": 0},
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def _refuse_unemulated(body: dict[str, Any]) -> None:
    """Options the sandbox does not emulate are refused by name rather than silently ignored."""
    if optional_choice(body, "output_format", ("png", "webp", "jpeg")) not in (None, "png"):
        raise bad_request("the sandbox produces png images only (output_format: png)", "unsupported_value")
    if optional_choice(body, "response_format", ("b64_json", "url")) == "url":
        raise bad_request(
            "openai-gpt-image-1 answers b64_json only; response_format url is not supported",
            "unsupported_value",
        )
    if optional_bool(body, "stream"):
        raise bad_request(
            "streamed image generation (partial images) is not emulated by the sandbox", "unsupported_value"
        )


def _image(side: int, seed: str, index: int) -> str:
    # The colour depends on the prompt and the index only: the same request gets the same images.
    colour = bytes.fromhex(digest(seed, index)[:6])
    return base64.b64encode(solid_png(side, side, (colour[0], colour[1], colour[2]))).decode("ascii")
