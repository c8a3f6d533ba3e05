"""IAM wired together: what the protocol front-ends call to learn who is calling, which
registry they address, and whether they may do what they ask."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..quotas.rates import Limiter
from ..storage.metadata import identities as identity_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database
from ..storage.metadata.generation_cache import GenerationCache
from .authentication import Authenticator, Caller, Unauthenticated, basic_token
from .authorization import AccessDenied, Authorizer, decide, resource_policy
from .identities import Account, IdentityService
from .federation import ProviderService
from .jwks import Jwks
from .roles import RoleService
from .sessions import SessionService
from .resource_policies import ResourcePolicies
from .tenancy import RegistryAddress, Tenancy
from .tokens import TokenService

if TYPE_CHECKING:
    from ..keys import KeyService
    from .aio import AsyncIam
    from ..notifications.services import DeliveryService, TargetService
    from ..public.services import PublicRegistries
    from ..quotas.services import QuotaService
    from ..secrets import SecretService
    from ..signing.profiles import ProfileService


class UnknownRegistry(Exception):
    """The addressed account does not exist (or its region is not served)."""


@dataclass(frozen=True)
class Admission:
    caller: Caller
    registry_id: int | None  # None only where a listing met no registry
    address: RegistryAddress  # as named by the host, or (a plain host) the caller's own


class Iam:
    def __init__(self, db: Database, tenancy: Tenancy, identities: IdentityService,
                 tokens: TokenService):
        self.db = db
        self.tenancy = tenancy
        self.identities = identities
        self.tokens = tokens
        self.authenticator = Authenticator(identities.master, tokens)
        self.roles = RoleService(db)
        self.sessions = SessionService(db, identities.master)
        self.providers = ProviderService(db, Jwks())
        self.limiter: Limiter | None = None  # set by wiring.open_iam when rates are enforced
        self.authorizer = Authorizer()
        self.policies = ResourcePolicies(db)
        self.cache = GenerationCache()
        self._registries: dict[RegistryAddress, int] = {}
        # Set by wiring.open_iam: the administrator account, and whether this start made it.
        self.administrator: Account | None = None
        self.first_start = False

    @cached_property
    def aio(self) -> "AsyncIam":
        """The entry points for coroutines, which choose inline or a thread (berth.iam.aio)."""
        from .aio import AsyncIam

        return AsyncIam(self)

    # -- what accounts keep besides identities (the admin API's), made on first use --------
    @cached_property
    def keys(self) -> "KeyService":
        """KMS-style keys. Their state lives in the database: every node's key store sees a
        change at its next use."""
        from ..keys import KeyService

        return KeyService(self.db, self.identities.master)

    @cached_property
    def secrets(self) -> "SecretService":
        from ..secrets import SecretService

        return SecretService(self.db, self.identities.master)

    @cached_property
    def signing_profiles(self) -> "ProfileService":
        from ..signing.profiles import ProfileService

        return ProfileService(self.db, self.identities.master)

    @cached_property
    def event_targets(self) -> "TargetService":
        from ..notifications.services import TargetService

        return TargetService(self.db, self.identities.master)

    @cached_property
    def event_deliveries(self) -> "DeliveryService":
        from ..notifications.services import DeliveryService

        return DeliveryService(self.db)

    @cached_property
    def quotas(self) -> "QuotaService":
        from ..quotas.services import QuotaService

        return QuotaService(self.db)

    @cached_property
    def public_registries(self) -> "PublicRegistries":
        """Accounts' public registries (their aliases: cached per instance, a short while)."""
        from ..public.services import PublicRegistries

        return PublicRegistries(self.db)

    def registry_id(self, address: RegistryAddress, create: bool = True) -> int | None:
        """The id of the account's registry in the region, made on first use (None if it
        does not exist yet and ``create`` is false)."""
        found = self._registries.get(address)
        if found is None:
            if not self.tenancy.serves(address):
                raise UnknownRegistry(f"region {address.region!r} is not served here")
            with self.db.write() if create else self.db.read() as tx:
                if identity_rows.find_account(tx, "id", address.account_id) is None:
                    raise UnknownRegistry(f"account {address.account_id} does not exist")
                found = (registry_rows.ensure_registry if create else registry_rows.registry_id)(
                    tx, address.account_id, address.region)
            if found is not None:
                self._registries[address] = found
        return found

    def admit(self, authorization: str | None, actions: str | Sequence[str],
              address: RegistryAddress | None, repository: str | None,
              keys: Mapping[str, Any] | None = None,
              check_name: Callable[[str], Any] | None = None) -> Admission:
        """The registry's gate (blocking; one read transaction on a warm cache): the token
        in ``authorization``, then the registry (``address``; None for a plain host: the
        caller's own in its token's region), then each of ``actions`` on the repository (or
        the registry when None). Raises Unauthenticated, UnknownRegistry, AccessDenied or
        Throttled (berth/quotas/rates.py);
        ``check_name`` validates the name once the caller is known."""
        token = basic_token(authorization)
        with self.db.read() as tx:
            entries = self.cache.entries(tx)
            caller, region = self.authenticator.identify(tx, entries, token)
            if check_name is not None and repository is not None:
                check_name(repository)
            if address is None:
                address = self.tenancy.own_registry(caller.account_id, region)
            registry_id = self._registries.get(address)
            if registry_id is not None:  # the usual case: one transaction in all
                self._check(tx, entries, caller, actions, address, registry_id, repository,
                            keys)
        if registry_id is None:
            registry_id = self.authorize(caller, actions, address, repository, keys)
        else:
            self.throttle(caller, actions)
        return Admission(caller, registry_id, address)

    def admit_listing(self, authorization: str | None,
                      address: RegistryAddress | None) -> Admission:
        """For a listing filtered repository by repository: the caller and the registry
        (``address`` as in ``admit``; its id None if there is none), no action checked."""
        token = basic_token(authorization)
        with self.db.read() as tx:
            caller, region = self.authenticator.identify(tx, self.cache.entries(tx), token)
        if address is None:
            address = self.tenancy.own_registry(caller.account_id, region)
        return Admission(caller, self.listed_registry(address), address)

    def authorize(self, caller: Caller, actions: str | Sequence[str], address: RegistryAddress,
                  repository: str | None, keys: Mapping[str, Any] | None = None,
                  create: bool = True) -> int | None:
        """For a caller already known: each of ``actions`` on the repository (or the
        registry when None) of the registry at ``address``; its id (None if it does not
        exist yet and ``create`` is false). Raises AccessDenied, then UnknownRegistry. A
        registry is made only for a caller allowed in (one not yet made has no policies)."""
        registry_id = self.listed_registry(address)
        with self.db.read() as tx:
            # A missing account is decided like one without policies (refused as any other
            # account's registry would be), so refusals do not tell which accounts exist.
            self._check(tx, self.cache.entries(tx), caller, actions, address, registry_id,
                        repository, keys)
        self.throttle(caller, actions)
        if registry_id is None and create:
            registry_id = self.registry_id(address)
        return registry_id

    def throttle(self, caller: Caller, actions: str | Sequence[str]) -> None:
        """Throttled if the caller has used up the rate of one of ``actions`` (the
        administrator's account never has; rates: berth/quotas/rates.py)."""
        if self.limiter is None or caller.is_admin:
            return
        for action in (actions,) if isinstance(actions, str) else actions:
            # A role's sessions share the role's bucket: a new session is no new allowance.
            self.limiter.take(caller.principal.principal_arn, caller.account_id, action)

    def listed_registry(self, address: RegistryAddress) -> int | None:
        """The id of the registry at ``address``; None if there is none, whether its account
        has not made it yet or does not exist: callers must not tell the two apart."""
        try:
            return self.registry_id(address, create=False)
        except UnknownRegistry:
            return None

    def _check(self, tx, entries: dict, caller: Caller, actions: str | Sequence[str],
               address: RegistryAddress, registry_id: int | None, repository: str | None,
               keys: Mapping[str, Any] | None) -> None:
        try:
            for action in (actions,) if isinstance(actions, str) else actions:
                self.authorizer.check(tx, entries, caller, action, address, registry_id,
                                      repository, keys)
        except AccessDenied as exc:  # who was refused where, for the audit trail
            exc.principal_arn, exc.address = caller.principal.arn, address
            raise

    def authenticate(self, authorization: str | None) -> Caller:
        return self.authenticate_token(basic_token(authorization))

    def authenticate_token(self, token: str) -> Caller:
        """The caller a registry token stands for (Unauthenticated if none)."""
        with self.db.read() as tx:
            return self.authenticator.from_token(tx, self.cache.entries(tx), token)

    def permits(self, caller: Caller, action: str, address: RegistryAddress, registry_id: int,
                repository: str | None, keys: Mapping[str, Any] | None = None) -> bool:
        try:
            self.require(caller, action, address, registry_id, repository, keys)
        except AccessDenied:
            return False
        return True

    def require(self, caller: Caller, action: str, address: RegistryAddress, registry_id: int,
                repository: str | None, keys: Mapping[str, Any] | None = None) -> None:
        """AccessDenied unless ``caller``, already admitted, may also do ``action``."""
        with self.db.read() as tx:
            self._check(tx, self.cache.entries(tx), caller, action, address, registry_id,
                        repository, keys)

    def visibility(self, caller: Caller, action: str, address: RegistryAddress,
                   registry_id: int, keys: Mapping[str, Any] | None = None
                   ) -> Callable[..., bool]:
        """A filter for listings: may ``caller`` do ``action`` on the named repository —
        decided exactly as a request on it would be (its policy, the registry's, its tags),
        from the per-generation cache. Extra arguments a listing passes are not needed."""
        def visible(repository: str, *_) -> bool:
            return self.permits(caller, action, address, registry_id, repository, keys)
        return visible

    def allows(self, caller: Caller, action: str, address: RegistryAddress,
               repository: str, policy_text: str | None, registry_policy: str | None,
               keys: Mapping[str, Any] | None = None) -> bool:
        """Whether ``caller`` may do ``action`` on a repository under the policies given
        rather than the stored ones (to judge a proposed policy)."""
        policies = tuple(resource_policy(t) for t in (policy_text, registry_policy) if t)
        _, decision = decide(caller, action, address.repository_arn(repository), policies,
                             keys)
        return decision.allowed

    def key_allows(self, access_key_id: str, action: str, resource: str) -> bool:
        """Whether the holder of an access key (long-term or temporary, active now) may do
        ``action`` on ``resource`` by its identity policies -- for work done later on a
        client's behalf (managed signing asks whether the pusher may sign)."""
        with self.db.read() as tx:
            caller = self.authenticator.holder(tx, self.cache.entries(tx), access_key_id)
        return caller is not None and decide(caller, action, resource)[1].allowed

    def registry_policy_text(self, registry_id: int) -> str | None:
        return self.policies.registry_policy(registry_id)


__all__ = ["AccessDenied", "Admission", "Caller", "Iam", "Unauthenticated", "UnknownRegistry"]
