"""The outbound fax providers by name, each imported only when asked for.

    provider = providers.get("hylafax", host="fax.example.org")
    provider = providers.get("spool", spool_dir=Path("/var/spool/priorauth-fax"))

`get` raises FaxError (permanent) for a name it does not know, or for settings the provider does
not take; both are a person's configuration to fix, so trying again cannot help.
"""

from __future__ import annotations

import difflib
import importlib
from typing import cast

from connectors.fax.base import FaxError, FaxProvider

#: Dotted paths, so that using one provider never imports another (or its dependencies).
PROVIDERS = {
    "hylafax": "connectors.fax.hylafax:HylaFaxProvider",
    "spool": "connectors.fax.spool:SpoolProvider",
}


def names() -> tuple[str, ...]:
    """The provider names `get` knows, sorted."""
    return tuple(sorted(PROVIDERS))


def get(name: str, **settings: object) -> FaxProvider:
    """The provider called `name`, made with `settings` (its constructor's keyword arguments).

    Raises FaxError (permanent) for an unknown name, naming the known ones, or for settings the
    provider does not take."""
    path = PROVIDERS.get(name)
    if path is None:
        close = difflib.get_close_matches(name, PROVIDERS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise FaxError(
            f"unknown fax provider {name!r}: {hint}the known providers are {', '.join(names())}",
            permanent=True,
        )
    module, _, attribute = path.partition(":")
    provider_class = getattr(importlib.import_module(module), attribute)
    try:
        return cast(FaxProvider, provider_class(**settings))
    except TypeError as exc:  # an unknown or missing setting: the message names it, never a value
        raise FaxError(f"the fax provider {name!r} cannot be made with these settings: {exc}", True) from None
