"""The ECR API's operations as the signed-in principal: validated as the API validates them,
authorized and carried out by the API's own handlers, their errors worded as the API words
them, and each noted for the request log and the audit trail."""
from __future__ import annotations

from starlette.requests import Request

from ...audit.events import read_only
from ...concurrency import blocking
from ...iam.authorization import AccessDenied
from ..admin import errors as admin_errors
from ..admin.access import authorize
from ..admin.table import OPERATIONS as ADMIN_OPERATIONS
from ..admin.operations import validate as validate_admin

from ...iam.tenancy import REGION
from ...observability import context as observed
from ..ecr.access import Target, admit_async
from ..ecr.caller import ApiCaller
from ..ecr.endpoint import ApiCall, EcrApiError, run_handler, where_of
from ..ecr.model import ECR
from ..ecr.routes import OPERATIONS
from ..ecr.translation import translate
from ..ecr.validation import validate_input


class ConsoleError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _note(request: Request, operation: str, identity, region: str, params: dict) -> None:
    """A change, for the request log and the audit trail (one a request: a form's). The
    reads that draw a page are not recorded one by one."""
    if read_only(operation):
        return
    scope = request.scope
    observed.note_operation(scope, operation, True)
    observed.note_caller(scope, identity.principal.arn, identity.account_id, region)
    observed.note_repository(scope, params.get("repositoryName"))
    observed.note_parameters(scope, params)


def region_of(request: Request) -> str:
    """The region the page shows (?region=, one served), else the default one."""
    tenancy = request.app.state.iam.tenancy
    wanted = request.query_params.get("region", "")
    return wanted if REGION.fullmatch(wanted) and wanted in tenancy.regions else (
        tenancy.default_region)


async def call(request: Request, operation: str, params: dict) -> dict:
    """``operation`` with ``params``; ConsoleError with the API's code and message."""
    session = request.state.console
    caller = ApiCaller(session.caller, region_of(request))
    _note(request, operation, caller.identity, caller.region, params)
    try:
        validated = validate_input(ECR.operation_model(operation), params)
        api_call = ApiCall(operation, validated, caller, request,
                           observed.request_id(request.scope))
        try:
            return await run_handler(OPERATIONS[operation], api_call)
        except EcrApiError:
            raise
        except Exception as exc:  # a domain error: worded by the API's table
            error = translate(exc, where_of(api_call))
            if error is None:
                raise
            raise error from None
    except EcrApiError as exc:
        raise ConsoleError(exc.code, exc.message) from None


async def authorized(request: Request, action: str, repository: str) -> Target:
    """The services of the repository's registry, once the signed-in principal may do
    ``action`` on it, as the API decides it; ConsoleError otherwise. For reads the API has
    no operation for without side effects (BatchGetImage records a pull)."""
    caller = ApiCaller(request.state.console.caller, region_of(request))
    api_call = ApiCall(action.partition(":")[2], {"repositoryName": repository}, caller,
                       request, observed.request_id(request.scope))
    try:
        return await admit_async(api_call, action, repository)
    except EcrApiError as exc:
        raise ConsoleError(exc.code, exc.message) from None


async def admin_call(request: Request, operation: str, params: dict) -> dict:
    """One of Berth's admin operations (a usage report, say) as the signed-in principal,
    authorized as the admin API authorizes it; ConsoleError with its code and message."""
    op, caller = ADMIN_OPERATIONS[operation], request.state.console.caller
    _note(request, operation, caller, "", params)

    def run() -> dict:
        own = {"AccountId": caller.account_id} if op.per_account else {}
        validated = validate_admin(op, {**own, **params})
        authorize(request.app.state.iam, caller, op, validated)
        state = request.app.state
        return op.handler(state.registry if op.storage else state.iam, validated)
    try:
        return await blocking(run)
    except AccessDenied as exc:
        raise ConsoleError("AccessDeniedException", exc.message) from None
    except Exception as exc:
        error = admin_errors.translate(exc)
        if error is None:
            raise
        raise ConsoleError(error.code, error.message) from None
