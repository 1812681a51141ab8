"""Drive the dynamic provider the way the Pulumi engine does: `python -m pulumi.dynamic` in a
subprocess, called over gRPC, with secret wrappers removed (the provider answers Configure with
acceptSecrets=false, so the engine strips them) and numbers arriving as doubles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.provider import ModelKeyProvider

REPO = Path(__file__).resolve().parents[2]
TYPE = "pulumi-python:dynamic/gradient-keys:ModelAccessKey"


def urn(name: str) -> str:
    return f"urn:pulumi:test::gradient-keys::{TYPE}::{name}"


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct))


def strip_secrets(values: dict[str, Any]) -> dict[str, Any]:
    return {k: rpc.unwrap_rpc_secret(v) for k, v in values.items()}


def with_provider(inputs: dict[str, Any]) -> dict[str, Any]:
    return strip_secrets({"__provider": serialize_provider(ModelKeyProvider()), **inputs})


class ProviderProcess:
    """The provider plugin process; `transcript` keeps every response, for leak searches."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PULUMI_PROJECT": "gradient-keys", **env},
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline().strip())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=15)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.transcript: list[str] = []
        self.stub.Configure(provider_pb2.ConfigureRequest(args=to_struct({}), acceptSecrets=False))

    def _keep(self, response: Any) -> Any:
        self.transcript.append(str(response))
        return response

    def check(self, name: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        request = provider_pb2.CheckRequest(urn=urn(name), olds=to_struct(olds), news=to_struct(news))
        return self._keep(self.stub.Check(request))

    def diff(self, name: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        request = provider_pb2.DiffRequest(id=id_, urn=urn(name), olds=to_struct(olds), news=to_struct(news))
        return self._keep(self.stub.Diff(request))

    def create(self, name: str, properties: dict[str, Any]) -> Any:
        return self._keep(
            self.stub.Create(provider_pb2.CreateRequest(urn=urn(name), properties=to_struct(properties)))
        )

    def read(self, name: str, id_: str, properties: dict[str, Any]) -> Any:
        request = provider_pb2.ReadRequest(id=id_, urn=urn(name), properties=to_struct(properties))
        return self._keep(self.stub.Read(request))

    def update(self, name: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        request = provider_pb2.UpdateRequest(
            id=id_, urn=urn(name), olds=to_struct(olds), news=to_struct(news)
        )
        return self._keep(self.stub.Update(request))

    def delete(self, name: str, id_: str, properties: dict[str, Any]) -> Any:
        request = provider_pb2.DeleteRequest(id=id_, urn=urn(name), properties=to_struct(properties))
        return self._keep(self.stub.Delete(request))

    def close(self) -> str:
        """Stop by PID; returns what the provider wrote to stderr."""
        self.channel.close()
        self.process.terminate()
        try:
            _out, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _out, err = self.process.communicate()
        return err or ""
