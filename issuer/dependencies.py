"""What the issuer's routes need beyond `identity.dependencies`: the signing keys, and a registry flag."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from identity.dependencies import AppState, changes_registry
from issuer import service
from issuer.keys import SignerCache


class IssuerState(AppState, Protocol):
    @property
    def signers(self) -> SignerCache: ...


def _keys(request: Request) -> service.Keys:
    state: IssuerState = request.app.state.tem
    return service.Keys(state.settings, state.signers)


Keys = Annotated[service.Keys, Depends(_keys)]
#: Every issuer router declares it: its writes (lots, ranges, keys, revocations) change what scans resolve to.
REGISTRY_WRITES = [Depends(changes_registry)]
