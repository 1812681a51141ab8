"""The consumer examples read the key where gradient-keys stores it, and the Kubernetes manifests
(examples/kubernetes) are valid for the operators that read them.

Every manifest parses (`yaml.safe_load_all`); every custom resource validates against its operator's
own CRD schema (the `openAPIV3Schema` of the version it names, which must be served) from the pinned
releases scripts/crds fetches: External Secrets Operator v1.3.2 and Vault Secrets Operator v0.10.0.

The check is the API server's, as far as JSON Schema reaches:
- Unknown fields: the API server prunes them, and refuses them under strict field validation
  (`kubectl apply`'s default since Kubernetes 1.27); JSON Schema allows them unless told. So every
  object that lists its properties, and neither preserves unknown fields nor declares
  `additionalProperties`, refuses others here (`strict`): a misspelt field fails.
- Not checked: `x-kubernetes-validations` (CEL rules), `format`, and defaulting (the API server
  fills defaults before it validates, so the manifests spell out the required fields that have one).
The built-in kinds (ServiceAccount, Deployment) have no CRD: they are checked for what ties them to
the custom resources (the Secret and field they read, the service account that logs in).

Deliberately broken copies prove the lint is live; see MUTATIONS.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest
import yaml

from components.ledger import SECRET_DATA_FIELD

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / ".venv" / "share" / "gradient-keys" / "crds"  # scripts/crds links the cached download
PINNED = {  # scripts/crds downloads these
    "github.com/external-secrets/external-secrets": "v1.3.2",
    "github.com/hashicorp/vault-secrets-operator": "v0.10.0",
}
EXAMPLES = REPO / "examples"
MANIFESTS = sorted((EXAMPLES / "kubernetes").rglob("*.yaml"))
BUILT_IN = {("v1", "ServiceAccount"), ("apps/v1", "Deployment")}
PROD_STACK = REPO / "stacks" / "Pulumi.prod.example.yaml"
EXAMPLE_KEY = "chatbot-prod"  # the key every consumer example reads
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 2 MB of YAML
MISSING = "the operators' CRDs are not downloaded here: scripts/setup fetches them (scripts/crds)"

Document = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    file: Path
    index: int  # which document of the file
    body: Document

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(EXAMPLES / 'kubernetes')}#{self.index}:{self.body['kind']}"


def _documents() -> Iterator[Manifest]:
    for file in MANIFESTS:
        for index, body in enumerate(yaml.safe_load_all(file.read_text())):
            yield Manifest(file, index, body)


DOCUMENTS = list(_documents())
CUSTOM = [m for m in DOCUMENTS if (m.body["apiVersion"], m.body["kind"]) not in BUILT_IN]


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], Document]:
    """(apiVersion, kind) -> the schema of each served version of every downloaded CRD."""
    versions = CRDS / "VERSIONS"
    if not versions.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must lint the Kubernetes examples: {MISSING}")
        pytest.skip(MISSING)
    pins = dict(line.split()[:2] for line in versions.read_text().splitlines())
    assert pins == PINNED, f"{CRDS} holds other releases than the pinned ones: run scripts/crds"
    schemas: dict[tuple[str, str], Document] = {}
    for path in CRDS.glob("*/*.yaml"):
        crd = yaml.load(path.read_text(), Loader=LOADER)  # noqa: S506 - a safe loader, libyaml's when built
        if crd.get("kind") != "CustomResourceDefinition":
            continue  # the kustomization beside them
        for version in crd["spec"]["versions"]:
            if version["served"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: Document) -> Document:
    """A copy of `schema` in which objects that list their properties refuse unknown ones."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            closed = (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            )
            if closed:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def problems(
    schemas: dict[tuple[str, str], Document], body: Document, *, strict_fields: bool = True
) -> list[str]:
    """What the CRD of `body`'s apiVersion and kind refuses in it, each with where."""
    schema = schemas.get((body["apiVersion"], body["kind"]))
    if schema is None:
        return [f"no served CRD version for {body['apiVersion']} {body['kind']} in the pinned releases"]
    # OpenAPI 3.0 schemas, which CRDs use, are closest to draft 4 (boolean exclusiveMinimum).
    validator = jsonschema.Draft4Validator(strict(schema) if strict_fields else schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    ]


# -- every document ----------------------------------------------------------------------------
@pytest.mark.parametrize("file", MANIFESTS, ids=lambda f: str(f.relative_to(EXAMPLES / "kubernetes")))
def test_manifest_parses_into_named_resources(file: Path) -> None:
    documents = list(yaml.safe_load_all(file.read_text()))
    assert documents
    for body in documents:
        assert isinstance(body, dict) and {"apiVersion", "kind", "metadata"} <= body.keys(), body
        assert body["metadata"]["name"] and body["metadata"]["namespace"] == "chatbot"


def test_both_operators_have_examples() -> None:
    groups = {m.body["apiVersion"].split("/")[0] for m in CUSTOM}
    assert groups == {"external-secrets.io", "secrets.hashicorp.com"}


@pytest.mark.parametrize("manifest", CUSTOM, ids=lambda m: m.id)
def test_custom_resource_matches_its_operators_crd(
    crd_schemas: dict[tuple[str, str], Document], manifest: Manifest
) -> None:
    assert problems(crd_schemas, manifest.body) == []


# -- what ties them together -------------------------------------------------------------------
def _example_path() -> tuple[str, str]:
    """(mount, path) where gradient-keys stores EXAMPLE_KEY for the production example stack."""
    config = yaml.safe_load(PROD_STACK.read_text())["config"]
    vault = config["gradient-keys:vault"]
    (key,) = [k for k in config["gradient-keys:keys"] if k["name"] == EXAMPLE_KEY]
    return vault["mount"], f"{vault['path_prefix']}/{key['vault_path']}"


def _one(kind: str, directory: str) -> Document:
    (found,) = [m.body for m in DOCUMENTS if m.body["kind"] == kind and m.file.parent.name == directory]
    return found


def test_every_example_reads_where_gradient_keys_writes() -> None:
    mount, path = _example_path()
    agent = (EXAMPLES / "agent" / "agent.hcl").read_text()
    assert f'{{{{ with secret \\"{mount}/data/{path}\\" }}}}{{{{ .Data.data.{SECRET_DATA_FIELD} }}}}' in agent
    policy = (EXAMPLES / "agent" / "chatbot-consumer.hcl").read_text()
    assert re.search(rf'path "{mount}/data/{path}" {{\s*capabilities = \["read"\]\s*}}', policy)
    store = _one("SecretStore", "external-secrets")["spec"]["provider"]["vault"]
    remote = _one("ExternalSecret", "external-secrets")["spec"]["data"][0]["remoteRef"]
    assert (store["path"], store["version"], remote["key"], remote["property"]) == (
        mount,
        "v2",
        path,
        SECRET_DATA_FIELD,
    )
    static = _one("VaultStaticSecret", "vault-secrets-operator")["spec"]
    assert (static["type"], static["mount"], static["path"]) == ("kv-v2", mount, path)
    assert static["destination"]["transformation"]["includes"] == [f"^{SECRET_DATA_FIELD}$"]


def _container(deployment: Document) -> Document:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_file_consumer_reads_the_secret_external_secrets_writes() -> None:
    target = _one("ExternalSecret", "external-secrets")["spec"]
    deployment = _one("Deployment", "external-secrets")
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    (mount,) = _container(deployment)["volumeMounts"]
    env = {e["name"]: e.get("value") for e in _container(deployment)["env"]}
    assert volume["secret"]["secretName"] == target["target"]["name"]
    assert "subPath" not in mount  # a subPath mount is never updated: the rotation would not arrive
    assert env["GRADIENT_KEY_FILE"] == f"{mount['mountPath']}/{target['data'][0]['secretKey']}"
    store = _one("SecretStore", "external-secrets")["spec"]["provider"]["vault"]["auth"]["kubernetes"]
    assert store["serviceAccountRef"]["name"] == pod["serviceAccountName"]


def test_the_restarted_consumer_reads_the_secret_the_vault_secrets_operator_writes() -> None:
    static = _one("VaultStaticSecret", "vault-secrets-operator")["spec"]
    deployment = _one("Deployment", "vault-secrets-operator")
    (reference,) = [e["valueFrom"]["secretKeyRef"] for e in _container(deployment)["env"] if "valueFrom" in e]
    assert reference == {"name": static["destination"]["name"], "key": SECRET_DATA_FIELD}
    # An environment variable is read once: only a restart brings the new key, and the operator
    # restarts only when it can tell the key changed (hmacSecretData).
    assert static["rolloutRestartTargets"] == [{"kind": "Deployment", "name": deployment["metadata"]["name"]}]
    assert static["hmacSecretData"] is True
    auth = _one("VaultAuth", "vault-secrets-operator")["spec"]["kubernetes"]
    assert auth["serviceAccount"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]


def test_refresh_intervals_are_the_documented_ones() -> None:
    """docs/consumers.md reasons about one minute; a change here must change the reasoning there."""
    doc = (REPO / "docs" / "consumers.md").read_text()
    assert _one("ExternalSecret", "external-secrets")["spec"]["refreshInterval"] == "1m"
    assert _one("VaultStaticSecret", "vault-secrets-operator")["spec"]["refreshAfter"] == "1m"
    assert re.search(r'static_secret_render_interval = "1m"', (EXAMPLES / "agent" / "agent.hcl").read_text())
    for setting in ("refreshInterval: 1m", "refreshAfter: 1m", 'static_secret_render_interval = "1m"'):
        assert setting in doc


# -- the lint is live: broken copies fail ------------------------------------------------------
def _set(path: str, value: Any) -> Callable[[Document], None]:
    def apply(body: Document) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return apply


def _rename(path: str, new: str) -> Callable[[Document], None]:
    def apply(body: Document) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[part]
        node[new] = node.pop(last)

    return apply


# id: (kind, change, what the schema says, caught without the strict-fields rule too?)
MUTATIONS: dict[str, tuple[str, Callable[[Document], None], str, bool]] = {
    "ExternalSecret misspelt refreshInterval": (
        "ExternalSecret",
        _rename("spec.refreshInterval", "refreshIntervall"),
        "'refreshIntervall' was unexpected",
        False,  # the CRD alone would let it through: the API server would prune it (or refuse, strict)
    ),
    "ExternalSecret unknown refreshPolicy": (
        "ExternalSecret",
        _set("spec.refreshPolicy", "Periodically"),
        "'Periodically' is not one of",
        True,
    ),
    "SecretStore KV version as a number": (
        "SecretStore",
        _set("spec.provider.vault.version", 2),
        "2 is not of type 'string'",
        True,
    ),
    "VaultStaticSecret refreshAfter in words": (
        "VaultStaticSecret",
        _set("spec.refreshAfter", "1 minute"),
        "'1 minute' does not match",
        True,
    ),
    "VaultStaticSecret misspelt rolloutRestartTargets": (
        "VaultStaticSecret",
        _rename("spec.rolloutRestartTargets", "rolloutRestartTarget"),
        "'rolloutRestartTarget' was unexpected",
        False,
    ),
    "VaultStaticSecret restart target of no such kind": (
        "VaultStaticSecret",
        _set("spec.rolloutRestartTargets.0.kind", "Deploy"),
        "'Deploy' is not one of",
        True,
    ),
    "VaultConnection skipTLSVerify as a string": (
        "VaultConnection",
        _set("spec.skipTLSVerify", "false"),
        "'false' is not of type 'boolean'",
        True,
    ),
    "VaultAuth unknown method": (
        "VaultAuth",
        _set("spec.method", "kubernetess"),
        "'kubernetess' is not one of",
        True,
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_broken_copy_fails(crd_schemas: dict[tuple[str, str], Document], name: str) -> None:
    kind, change, message, caught_by_the_crd_alone = MUTATIONS[name]
    (original,) = [m.body for m in CUSTOM if m.body["kind"] == kind]
    broken = copy.deepcopy(original)
    change(broken)
    found = problems(crd_schemas, broken)
    assert any(message in problem for problem in found), found
    assert bool(problems(crd_schemas, broken, strict_fields=False)) is caught_by_the_crd_alone
