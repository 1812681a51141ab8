"""`/v1/async-invoke`: jobs for DigitalOcean's fal models (image, audio, text-to-speech).

- `POST /v1/async-invoke {"model_id", "input", "tags"?}` starts a job: 200 with the job,
  `status: QUEUED`, `request_id`, null `output`, as the doc shows it.
- `GET /v1/async-invoke/{request_id}/status` moves the job one step per poll, so a consumer's
  polling loop sees the whole flow deterministically: the first poll answers `IN_PROGRESS`, the
  second and later `COMPLETED`. The doc's prose says `COMPLETE`; its response example, which code
  compares against, says `COMPLETED`; the sandbox answers the example's word.
- `GET /v1/async-invoke/{request_id}` answers the job as it stands; once completed, `output` holds
  what the model made: `images` (real PNGs of the asked size as `data:` URLs) or `audio` (a second
  of silence as a `data:` WAV URL), where DigitalOcean answers links to fal's file store.
Jobs belong to the team, not to a key: any currently valid model access key reads any job (the
sandbox is one team). An unknown `request_id` is 404.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from sandbox.inference.catalogue import Model, require_model
from sandbox.inference.errors import InferenceError, bad_request
from sandbox.inference.fields import json_object, optional_int, optional_number
from sandbox.inference.png import solid_png
from sandbox.inference.tokens import digest
from sandbox.inference.wav import silent_wav

if TYPE_CHECKING:
    from sandbox.inference.routes import Answer, Request

__all__ = ["FLOW", "invoke", "job_result", "job_status"]

FLOW = ("QUEUED", "IN_PROGRESS", "COMPLETED")
# fal's image_size presets; landscape_4_3 (the default) is the 1024x768 of the doc's example.
IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


@dataclass
class Job:
    request_id: str
    model: Model
    input: dict[str, Any]
    created_at: str
    step: int = 0  # index in FLOW
    started_at: str | None = None
    completed_at: str | None = None
    output: dict[str, Any] | None = field(default=None, repr=False)

    def view(self, with_output: bool = True) -> dict[str, Any]:
        shown = {
            "request_id": self.request_id,
            "model_id": self.model.id,
            "status": FLOW[self.step],
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "error": None,
        }
        return {**shown, "output": self.output} if with_output else shown


def invoke(request: Request) -> Answer:
    body = json_object(request.body)
    model = require_model(body.get("model_id"), "/v1/async-invoke", field="model_id")
    job_input = body.get("input")
    if not isinstance(job_input, dict):
        raise bad_request("input is required and must be an object", "invalid_input")
    _check_input(model, job_input)
    _check_tags(body.get("tags"))
    job = Job(str(uuid.uuid4()), model, job_input, _now())
    request.state.jobs[job.request_id] = job
    return 200, job.view()


def job_status(request: Request) -> Answer:
    job = _job(request)
    if job.step < len(FLOW) - 1:
        job.step += 1
        if FLOW[job.step] == "IN_PROGRESS":
            job.started_at = _now()
        else:
            job.completed_at = _now()
            job.output = _output(job)
    return 200, job.view(with_output=False)


def job_result(request: Request) -> Answer:
    return 200, _job(request).view()


def _job(request: Request) -> Job:
    job = request.state.jobs.get(request.params["request_id"])
    if not isinstance(job, Job):
        raise InferenceError(
            404, "no async-invoke job has this request_id", "invalid_request_error", "not_found"
        )
    return job


def _now() -> str:
    # RFC 3339 with nanoseconds, as the doc's created_at ("2026-01-22T19:19:19.112403432Z").
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


# -- input ----------------------------------------------------------------------------------------
def _check_input(model: Model, job_input: dict[str, Any]) -> None:
    needed = "text" if model.fal_output == "speech" else "prompt"
    text = job_input.get(needed)
    if not isinstance(text, str) or not text.strip():
        raise bad_request(
            f"input.{needed} is required for {model.id} and must be a non-empty string", "invalid_input"
        )
    if model.fal_output == "image":
        _size(job_input)
        optional_int(job_input, "num_images", 1, 4, label="input.num_images")
        optional_int(job_input, "num_inference_steps", 1, 50, label="input.num_inference_steps")
        optional_number(job_input, "guidance_scale", 0, 20)
    elif model.fal_output == "audio":
        optional_number(job_input, "seconds_total", 1, 190)


def _check_tags(tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, list) or not all(
        isinstance(tag, dict) and isinstance(tag.get("key"), str) and isinstance(tag.get("value"), str)
        for tag in tags
    ):
        raise bad_request("tags must be a list of {key, value} strings", "invalid_tags")


def _size(job_input: dict[str, Any]) -> tuple[int, int]:
    size = job_input.get("image_size", "landscape_4_3")
    if isinstance(size, str) and size in IMAGE_SIZES:
        return IMAGE_SIZES[size]
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if _side(width) and _side(height):
            return width, height
    raise bad_request(
        f"input.image_size must be one of {', '.join(IMAGE_SIZES)} or {{width, height}} (1 to 2048)",
        "invalid_input",
    )


def _side(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2048


# -- output ---------------------------------------------------------------------------------------
def _output(job: Job) -> dict[str, Any]:
    if job.model.fal_output == "image":
        width, height = _size(job.input)
        seed = digest("fal", job.model.id, job.input)
        count = job.input.get("num_images") or 1
        images = [_image(width, height, seed, index) for index in range(count)]
        return {
            "images": images,
            "seed": int(seed[:8], 16),
            "prompt": job.input["prompt"],
            "has_nsfw_concepts": [False] * count,
        }
    wav = silent_wav(1.0)
    return {
        "audio": {
            "url": "data:audio/wav;base64," + base64.b64encode(wav).decode("ascii"),
            "content_type": "audio/wav",
            "file_name": "audio.wav",
            "file_size": len(wav),
        }
    }


def _image(width: int, height: int, seed: str, index: int) -> dict[str, Any]:
    colour = bytes.fromhex(digest(seed, index)[:6])
    png = solid_png(width, height, (colour[0], colour[1], colour[2]))
    return {
        "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "content_type": "image/png",
        "width": width,
        "height": height,
    }
