"""Admission of request bodies: at most so many in flight at once per principal and per source
address (in this server process), so that one tenant's uploads, stalled or not, cannot take
every connection, buffer and thread from the others. Past a limit the request is refused at
once. Blob uploads count against both; large AWS JSON bodies (read before their signature
names the caller) against the address."""
from __future__ import annotations

import contextlib
from collections import Counter
from typing import Iterator


class TooManyRequests(Exception):
    """Refused before any byte of the body is read; the client may retry later."""


class BodyGate:
    def __init__(self, per_principal: int, per_address: int):
        self.per_principal, self.per_address = per_principal, per_address
        self._principals: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()

    @contextlib.contextmanager
    def admit(self, principal: str | None, address: str) -> Iterator[None]:
        """Hold a place for one body (on the event loop: no lock is needed); ``principal``
        None: counted against the address only (the caller is not known yet)."""
        if principal is not None and self._principals[principal] >= self.per_principal:
            raise TooManyRequests(f"too many uploads in flight for {principal} (at most "
                                  f"{self.per_principal}); retry when one has finished")
        if self._addresses[address] >= self.per_address:
            raise TooManyRequests(f"too many uploads in flight from {address} (at most "
                                  f"{self.per_address}); retry when one has finished")
        if principal is not None:
            self._principals[principal] += 1
        self._addresses[address] += 1
        try:
            yield
        finally:
            if principal is not None:
                _release(self._principals, principal)
            _release(self._addresses, address)

    def in_flight(self) -> int:
        return sum(self._addresses.values())


def _release(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]  # no entry kept per past client
