"""Run `__main__.py` under Pulumi's mocks, optionally routing its dynamic resources into the real
provider process (a test-only "mini engine": check, create, diff, update, delete, with state kept
between runs). It stands in for the engine only in tests; the product never fakes the engine."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, resource_pb2

from tests.provider.harness import ProviderProcess, from_struct

PROGRAM = Path(__file__).resolve().parents[2] / "__main__.py"
DYNAMIC_PREFIX = "pulumi-python:dynamic"


class RecordingMocks(pulumi.runtime.Mocks):
    """Mock resources echo their inputs; every registration is kept for inspection."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        state = {k: v for k, v in args.inputs.items() if k != "__provider"}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class Monitor(pulumi_mocks.MockMonitor):
    """Records stack outputs; with a provider process, drives it like the engine would."""

    def __init__(
        self, mocks: RecordingMocks, provider: ProviderProcess | None, state: dict[str, Any]
    ) -> None:
        super().__init__(mocks)
        self.provider = provider
        self.state = state  # urn -> {"id", "inputs", "outputs"}: survives between runs
        self.seen: set[str] = set()
        self.outputs: dict[str, Any] = {}
        self.operations: list[tuple[str, str]] = []

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if (
            request.urn.endswith("pulumi:pulumi:Stack::gradient-keys-test")
            or "pulumi:pulumi:Stack" in request.urn
        ):
            self.outputs = dict(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:
        if self.provider is None or not request.type.startswith(DYNAMIC_PREFIX):
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in rpc.deserialize_properties(request.object).items()}
        record = self._apply(request.name, urn, inputs)
        outputs = {k: v for k, v in record["outputs"].items() if k != "__provider"}
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, record["id"], outputs)
        self.seen.add(urn)
        return resource_pb2.RegisterResourceResponse(
            urn=urn,
            id=record["id"],
            object=pulumi_mocks._sync_await(rpc.serialize_properties(outputs, {})),  # type: ignore[attr-defined]
        )

    def _apply(self, name: str, urn: str, inputs: dict[str, Any]) -> dict[str, Any]:
        assert self.provider is not None
        old = self.state.get(urn)
        checked = self.provider.check(name, old["inputs"] if old else {}, inputs)
        if checked.failures:
            raise RuntimeError("; ".join(f.reason for f in checked.failures))
        news = from_struct(checked.inputs)
        if old is not None:
            diff = self.provider.diff(name, old["id"], old["outputs"], news)
            if diff.replaces:
                self.provider.delete(name, old["id"], old["outputs"])  # deleteBeforeReplace
                self.operations.append(("replace", name))
            elif diff.changes == provider_pb2.DiffResponse.DIFF_SOME:
                updated = self.provider.update(name, old["id"], old["outputs"], news)
                self.operations.append(("update", name))
                record = {"id": old["id"], "inputs": news, "outputs": from_struct(updated.properties)}
                self.state[urn] = record
                return record
            else:
                self.operations.append(("same", name))
                return dict(old)
        created = self.provider.create(name, news)
        self.operations.append(("create", name))
        record = {"id": created.id, "inputs": news, "outputs": from_struct(created.properties)}
        self.state[urn] = record
        return record

    def delete_unseen(self) -> None:
        """What the engine does after a run: delete what the program no longer declares."""
        assert self.provider is not None
        for urn in [u for u in self.state if u not in self.seen]:
            record = self.state.pop(urn)
            name = urn.rsplit("::", 1)[1]
            self.provider.delete(name, record["id"], record["outputs"])
            self.operations.append(("delete", name))


def run_program(
    config: dict[str, Any],
    provider: ProviderProcess | None = None,
    state: dict[str, Any] | None = None,
    stack: str = "test",
) -> tuple[Monitor, RecordingMocks]:
    """Run the program once with `gradient-keys:*` config; returns the monitor (outputs, state)."""
    mocks = RecordingMocks()
    monitor = Monitor(mocks, provider, state if state is not None else {})
    pulumi.runtime.set_mocks(mocks, project="gradient-keys", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({f"gradient-keys:{k}": json.dumps(v) for k, v in config.items()})

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def execute() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    execute()
    if provider is not None:
        monitor.delete_unseen()
    return monitor, mocks
