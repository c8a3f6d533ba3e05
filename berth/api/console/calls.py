"""The ECR API's operations as the signed-in principal: validated as the API validates them,
authorized and carried out by the API's own handlers, their errors worded as the API words
them, and each noted for the request log and the audit trail."""
from __future__ import annotations

from starlette.requests import Request

from ...concurrency import blocking
from ...iam.authorization import AccessDenied
from ..admin import errors as admin_errors
from ..admin.access import authorize
from ..admin.table import OPERATIONS as ADMIN_OPERATIONS
from ..admin.operations import validate as validate_admin

from ...iam.tenancy import REGION
from ...observability import context as observed
from ..ecr.caller import ApiCaller
from ..ecr.endpoint import ApiCall, EcrApiError, where_of
from ..ecr.model import ECR
from ..ecr.routes import OPERATIONS
from ..ecr.translation import translate
from ..ecr.validation import validate_input


class ConsoleError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


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
    scope = request.scope
    observed.note_operation(scope, operation, True)
    observed.note_caller(scope, caller.identity.principal.arn, caller.identity.account_id,
                         caller.region)
    observed.note_repository(scope, params.get("repositoryName"))
    observed.note_parameters(scope, params)
    try:
        validated = validate_input(ECR.operation_model(operation), params)
        api_call = ApiCall(operation, validated, caller, request, observed.request_id(scope))
        try:
            return await OPERATIONS[operation](api_call)
        except EcrApiError:
            raise
        except Exception as exc:  # a domain error: worded by the API's table
            error = translate(exc, where_of(api_call))
            if error is None:
                raise
            raise error from None
    except EcrApiError as exc:
        raise ConsoleError(exc.code, exc.message) from None


async def admin_call(request: Request, operation: str, params: dict) -> dict:
    """One of Berth's admin operations (a usage report, say) as the signed-in principal,
    authorized as the admin API authorizes it; ConsoleError with its code and message."""
    op, caller = ADMIN_OPERATIONS[operation], request.state.console.caller
    observed.note_operation(request.scope, operation, True)
    observed.note_caller(request.scope, caller.principal.arn, caller.account_id, "")

    def run() -> dict:
        own = {"AccountId": caller.account_id} if op.per_account else {}
        validated = validate_admin(op, {**own, **params})
        observed.note_parameters(request.scope, validated)
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
