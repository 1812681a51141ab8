"""The DigitalOcean accounts (teams) a stack's keys live in (`gradient-keys:accounts`), validated.

    gradient-keys:accounts:
      - name: search-team
        token_from: {env: DIGITALOCEAN_TOKEN_SEARCH}          # or {vault: {path: ..., field: token}}
        api_url: https://api.digitalocean.com                 # optional
        inference_url: https://inference.do-ai.run            # optional

A key names its account (`account: search-team`); without one it is in the `default` account:
DIGITALOCEAN_TOKEN, and `gradient-keys:digitalocean`'s URLs. The file says where a token comes
from, never the token itself. Each account has its own DigitalOcean client, pacer, rate budget and
listings (components/clients.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.config_fields import Errors, Where, given, mapping, text_field, url, vault_path_field

if TYPE_CHECKING:
    from components.config import KeySpec

__all__ = ["ACCOUNT_FIELDS", "DEFAULT_ACCOUNT", "AccountConfig", "check_accounts", "parse_accounts"]

DEFAULT_ACCOUNT = "default"
ACCOUNT_FIELDS = {"name", "token_from", "api_url", "inference_url"}
TOKEN_FROM_FIELDS = {"env", "vault"}
TOKEN_VAULT_FIELDS = {"path", "field"}
DEFAULT_TOKEN_FIELD = "token"  # noqa: S105 - a field name
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FIELD = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TOKEN_PREFIXES = ("dop_", "doo_", "dor_")  # DigitalOcean's personal, OAuth and refresh tokens


@dataclass(frozen=True)
class AccountConfig:
    """One account: where its API token is read (an environment variable, or a field of a Vault
    entry under the stack's path_prefix), and its URLs (None: the stack's)."""

    name: str
    token_env: str | None = None
    token_vault_path: str | None = None
    token_vault_field: str = DEFAULT_TOKEN_FIELD
    api_url: str | None = None
    inference_url: str | None = None

    def as_declared(self) -> dict[str, object]:
        """As the stack config declares it (the provider's input): where the token is, never it."""
        token_from: dict[str, object] = (
            {"env": self.token_env}
            if self.token_env is not None
            else {"vault": {"path": self.token_vault_path, "field": self.token_vault_field}}
        )
        declared: dict[str, object] = {"name": self.name, "token_from": token_from}
        declared.update(
            {k: v for k, v in (("api_url", self.api_url), ("inference_url", self.inference_url)) if v}
        )
        return declared

    @property
    def token_source(self) -> str:
        """Where its token comes from, as messages say it (never the token)."""
        if self.token_env is not None:
            return self.token_env
        if self.token_vault_path is not None:
            return f"Vault {self.token_vault_path} (field {self.token_vault_field})"
        return "DIGITALOCEAN_TOKEN"


DEFAULT = AccountConfig(DEFAULT_ACCOUNT)


def parse_accounts(raw: Any, errors: Errors) -> dict[str, AccountConfig]:
    """The declared accounts by name, the `default` one always among them (declared or not)."""
    accounts = {DEFAULT_ACCOUNT: DEFAULT}
    if raw is None:
        return accounts
    if not isinstance(raw, list):
        errors.add(("accounts",), raw, "must be a list of accounts, each {name, token_from}")
        return accounts
    declared: set[str] = set()
    for index, item in enumerate(raw):
        account = _account(item, ("accounts", index), errors)
        if account is None:
            continue
        if account.name in declared:
            errors.add(("accounts", index, "name"), account.name, "is already declared; names must be unique")
            continue
        declared.add(account.name)
        accounts[account.name] = account
    return accounts


def _account(raw: Any, where: Where, errors: Errors) -> AccountConfig | None:
    before = len(errors.items)
    values = given(mapping(raw, where, ACCOUNT_FIELDS, errors))
    name = text_field(values.get("name"), (*where, "name"), errors)
    if "name" not in values:
        errors.at((*where, "name"), "is required (e.g. name: search-team)")
    elif name is not None and not _NAME.fullmatch(name):
        errors.add((*where, "name"), name, "must be lowercase letters, digits and '-' (e.g. search-team)")
    source = _token_from(values.get("token_from"), (*where, "token_from"), errors)
    api_url = url(values.get("api_url"), (*where, "api_url"), errors)
    inference_url = url(values.get("inference_url"), (*where, "inference_url"), errors)
    if len(errors.items) > before or name is None or source is None:
        return None
    env, path, field = source
    return AccountConfig(name, env, path, field, api_url, inference_url)


def _token_from(raw: Any, where: Where, errors: Errors) -> tuple[str | None, str | None, str] | None:
    """(env, vault path, vault field): exactly one of env and path is set."""
    example = "token_from: {env: DIGITALOCEAN_TOKEN_SEARCH} or {vault: {path: accounts/search, field: token}}"
    if raw is None:
        errors.at(where, f"is required: where the account's API token is read ({example}); never the token")
        return None
    values = given(mapping(raw, where, TOKEN_FROM_FIELDS, errors))
    if len(values) != 1:
        errors.at(where, f"takes exactly one of env and vault ({example})")
        return None
    if "env" in values:
        return _from_env(values["env"], (*where, "env"), errors)
    return _from_vault(values["vault"], (*where, "vault"), errors)


def _from_env(variable: Any, where: Where, errors: Errors) -> tuple[str | None, str | None, str] | None:
    # A token pasted here would be a valid variable name, and quoted by the "not set" error later.
    if isinstance(variable, str) and variable.lower().startswith(_TOKEN_PREFIXES):
        errors.at(
            where,
            "looks like a DigitalOcean token, not a variable's name: the stack file holds no token; put "
            "it in an environment variable (e.g. DIGITALOCEAN_TOKEN_SEARCH), write that name here, and "
            "revoke the token if this file was shared",
        )
        return None
    if not isinstance(variable, str) or not _ENV_NAME.fullmatch(variable):
        errors.at(where, "must be an environment variable's name, e.g. DIGITALOCEAN_TOKEN_SEARCH")
        return None
    return variable, None, DEFAULT_TOKEN_FIELD


def _from_vault(raw: Any, where: Where, errors: Errors) -> tuple[str | None, str | None, str] | None:
    vault = given(mapping(raw, where, TOKEN_VAULT_FIELDS, errors))
    if "path" not in vault:
        errors.at((*where, "path"), "is required: the Vault entry, under the stack's path_prefix")
        return None
    path = vault_path_field(vault["path"], (*where, "path"), errors)
    field = vault.get("field", DEFAULT_TOKEN_FIELD)
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
        errors.at((*where, "field"), "must be a field name like token")
        return None
    return (None, path, field) if path else None


def check_accounts(
    keys: list[tuple[Where, KeySpec]], accounts: dict[str, AccountConfig], errors: Errors
) -> None:
    """Every key's account is declared; no account's token is read from a key's Vault path."""
    names = ", ".join(sorted(accounts))
    for where, spec in keys:
        if spec.account not in accounts:
            field = (*where[:2], "account") if where[0] == "agents" else (*where, "account")
            errors.add(
                field, spec.account, f"is not a declared account; use one of {names} (gradient-keys:accounts)"
            )
    paths = {spec.vault_path: spec.name for _where, spec in keys}
    for index, account in enumerate(a for a in accounts.values() if a.name != DEFAULT_ACCOUNT):
        if account.token_vault_path in paths:
            errors.add(
                ("accounts", index, "token_from", "vault", "path"),
                account.token_vault_path,
                f"is key {paths[account.token_vault_path]!r}'s Vault path; keep the account's token "
                "elsewhere",
            )
