"""`/v1/async-invoke` over raw HTTP (neither official client has a method for it): the doc's
requests, the QUEUED -> IN_PROGRESS -> COMPLETED flow (one step per status poll), the results."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
import requests

from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.png_check import png_size

JOB_FIELDS = {"request_id", "model_id", "status", "created_at", "started_at", "completed_at", "error"}


@pytest.fixture
def key(emulator: Emulator) -> str:
    return emulator.console_create("fal-consumer")["secret_key"]


def _call(emulator: Emulator, key: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{emulator.base_url}/v1/async-invoke{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def _data_url(url: str, content_type: str) -> bytes:
    prefix = f"data:{content_type};base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :])


def test_an_image_job_moves_through_the_flow_one_step_per_poll(emulator: Emulator, key: str) -> None:
    body = {
        "model_id": "fal-ai/fast-sdxl",
        "input": {
            "prompt": "A futuristic cityscape at sunset, with flying cars and towering skyscrapers.",
            "output_format": "landscape_4_3",
            "num_inference_steps": 4,
            "guidance_scale": 3.5,
            "num_images": 2,
            "enable_safety_checker": True,
        },
        "tags": [{"key": "type", "value": "test"}],
    }
    started = _call(emulator, key, "POST", "", body)
    assert started.status_code == 200
    job = started.json()
    assert set(job) == JOB_FIELDS | {"output"}
    assert (job["status"], job["model_id"], job["output"], job["started_at"]) == (
        "QUEUED",
        "fal-ai/fast-sdxl",
        None,
        None,
    )
    assert job["created_at"].endswith("Z")
    request_id = job["request_id"]
    assert _call(emulator, key, "GET", f"/{request_id}").json()["status"] == "QUEUED", "a result read waits"
    polls = [_call(emulator, key, "GET", f"/{request_id}/status").json() for _ in range(3)]
    assert [poll["status"] for poll in polls] == ["IN_PROGRESS", "COMPLETED", "COMPLETED"]
    assert all(set(poll) == JOB_FIELDS for poll in polls)
    assert polls[0]["started_at"] and polls[1]["completed_at"]
    result = _call(emulator, key, "GET", f"/{request_id}").json()
    assert result["status"] == "COMPLETED" and result["request_id"] == request_id
    images = result["output"]["images"]
    assert len(images) == 2
    for image in images:
        assert (image["content_type"], image["width"], image["height"]) == ("image/png", 1024, 768)
        assert png_size(_data_url(image["url"], "image/png")) == (1024, 768)


@pytest.mark.parametrize(
    ("model_id", "job_input"),
    [
        (
            "fal-ai/stable-audio-25/text-to-audio",
            {"prompt": "Techno song with futuristic sounds", "seconds_total": 60},
        ),
        (
            "fal-ai/elevenlabs/tts/multilingual-v2",
            {"text": "This text-to-speech example uses a multilingual voice."},
        ),
    ],
    ids=["audio", "speech"],
)
def test_audio_jobs_complete_with_a_real_wav(
    emulator: Emulator, key: str, model_id: str, job_input: dict[str, Any]
) -> None:
    request_id = _call(emulator, key, "POST", "", {"model_id": model_id, "input": job_input}).json()[
        "request_id"
    ]
    for _ in range(2):
        _call(emulator, key, "GET", f"/{request_id}/status")
    audio = _call(emulator, key, "GET", f"/{request_id}").json()["output"]["audio"]
    wav = _data_url(audio["url"], "audio/wav")
    assert audio["file_size"] == len(wav) and audio["content_type"] == "audio/wav"
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", wav[4:8])[0] == len(wav) - 8


def test_flux_schnell_as_the_doc_sends_it_and_image_size_presets(emulator: Emulator, key: str) -> None:
    first = _call(
        emulator, key, "POST", "", {"model_id": "fal-ai/flux/schnell", "input": {"prompt": "A city"}}
    )
    sized = _call(
        emulator,
        key,
        "POST",
        "",
        {
            "model_id": "fal-ai/flux/schnell",
            "input": {"prompt": "A city", "image_size": {"width": 64, "height": 32}},
        },
    )
    for answer, size in ((first, (1024, 768)), (sized, (64, 32))):
        request_id = answer.json()["request_id"]
        _call(emulator, key, "GET", f"/{request_id}/status")
        _call(emulator, key, "GET", f"/{request_id}/status")
        image = _call(emulator, key, "GET", f"/{request_id}").json()["output"]["images"][0]
        assert png_size(_data_url(image["url"], "image/png")) == size


def test_any_valid_key_of_the_team_reads_a_job_and_a_revoked_one_does_not(
    emulator: Emulator, key: str
) -> None:
    request_id = _call(
        emulator, key, "POST", "", {"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x"}}
    ).json()["request_id"]
    other = emulator.console_create("another-consumer")
    assert (
        _call(emulator, other["secret_key"], "GET", f"/{request_id}/status").json()["status"] == "IN_PROGRESS"
    )
    regenerated = requests.put(
        f"{emulator.base_url}/v2/gen-ai/models/api_keys/{other['uuid']}/regenerate",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert regenerated.status_code == 200
    refused = _call(emulator, other["secret_key"], "GET", f"/{request_id}")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert _call(emulator, key, "GET", f"/{request_id}").json()["status"] == "IN_PROGRESS"


def test_unknown_request_ids_are_404_and_reset_forgets_jobs(emulator: Emulator, key: str) -> None:
    for path in ("/6590784a-ce47-4556-9ff4-53baff2693fb", "/6590784a-ce47-4556-9ff4-53baff2693fb/status"):
        answer = _call(emulator, key, "GET", path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    request_id = _call(
        emulator, key, "POST", "", {"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x"}}
    ).json()["request_id"]
    emulator.reset()
    key = emulator.console_create("after-reset")["secret_key"]
    assert _call(emulator, key, "GET", f"/{request_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model_id": None}, 400, "missing_model_id"),
        ({"model_id": "fal-ai/no-such-model"}, 404, "model_not_found"),
        ({"model_id": "openai-gpt-image-1"}, 400, "model_not_supported"),
        ({"model_id": "llama3.3-70b-instruct"}, 400, "model_not_supported"),
        ({"input": None}, 400, "invalid_input"),
        ({"input": "A city"}, 400, "invalid_input"),
        ({"input": {}}, 400, "invalid_input"),
        ({"input": {"prompt": "x", "num_images": 0}}, 400, "invalid_value"),
        ({"input": {"prompt": "x", "image_size": "huge"}}, 400, "invalid_input"),
        ({"input": {"prompt": "x", "image_size": {"width": 0, "height": 10}}}, 400, "invalid_input"),
        ({"tags": [{"key": "type"}]}, 400, "invalid_tags"),
        (
            {"model_id": "fal-ai/elevenlabs/tts/multilingual-v2", "input": {"prompt": "x"}},
            400,
            "invalid_input",
        ),
        (
            {
                "model_id": "fal-ai/stable-audio-25/text-to-audio",
                "input": {"prompt": "x", "seconds_total": 0},
            },
            400,
            "invalid_value",
        ),
    ],
    ids=str,
)
def test_bad_requests_answer_the_documented_error_shape(
    emulator: Emulator, key: str, body: dict[str, Any], status: int, code: str
) -> None:
    answer = _call(
        emulator, key, "POST", "", {"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "x"}, **body}
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_malformed_json_and_wrong_methods(emulator: Emulator, key: str) -> None:
    answer = requests.post(
        f"{emulator.base_url}/v1/async-invoke",
        data="{",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert _call(emulator, key, "GET", "").status_code == 405
    assert _call(emulator, key, "POST", "/some-id/status", {}).status_code == 405
