"""A repository's lifecycle policy in the console: shown and edited as JSON (validated as the
API validates it), and previewed: the preview ECR's StartLifecyclePolicyPreview runs, with
what each image would undergo once it is done."""
from __future__ import annotations

import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..web.pages import page
from .calls import ConsoleError, call, region_of
from .session import signed_in

PREVIEW_SHOWN = 100


async def _current(request: Request, name: str) -> str:
    try:
        found = await call(request, "GetLifecyclePolicy", {"repositoryName": name})
    except ConsoleError as exc:
        if exc.code != "LifecyclePolicyNotFoundException":
            raise
        return ""
    return json.dumps(json.loads(found["lifecyclePolicyText"]), indent=2)


async def _preview(request: Request, name: str) -> dict | None:
    try:
        return await call(request, "GetLifecyclePolicyPreview", {
            "repositoryName": name, "maxResults": PREVIEW_SHOWN})
    except ConsoleError as exc:
        if exc.code != "LifecyclePolicyPreviewNotFoundException":
            raise
        return None


async def _submit(request: Request, name: str) -> Response | None:
    """The form's change (save, delete or preview); None when done, else the refusal."""
    form = request.state.form
    text = form.get("policy", "")
    action = form.get("action", "save")
    try:
        if action == "preview":
            await call(request, "StartLifecyclePolicyPreview", {
                "repositoryName": name, **({"lifecyclePolicyText": text} if text.strip()
                                           else {})})
        elif text.strip():
            await call(request, "PutLifecyclePolicy", {"repositoryName": name,
                                                       "lifecyclePolicyText": text})
        else:
            await call(request, "DeleteLifecyclePolicy", {"repositoryName": name})
    except ConsoleError as exc:
        if exc.code == "LifecyclePolicyNotFoundException":
            return None
        return page("console/lifecycle.html", 400, **_context(
            request, name=name, policy=text, preview=None, error=exc.message))
    return None


def _context(request: Request, **more) -> dict:
    return {"session": request.state.console, "region": region_of(request),
            "regions": request.app.state.iam.tenancy.regions, **more}


@signed_in
async def lifecycle(request: Request) -> Response:
    name = request.path_params["name"]
    if request.method == "POST":
        refused = await _submit(request, name)
        if refused is not None:
            return refused
        return RedirectResponse(f"/console/repositories/{quote(name)}/lifecycle"
                                f"?region={region_of(request)}", status_code=303)
    try:
        text, preview = await _current(request, name), await _preview(request, name)
    except ConsoleError as exc:
        status = 404 if exc.code == "RepositoryNotFoundException" else 403
        return page("console/error.html", status, **_context(request, message=exc.message))
    return page("console/lifecycle.html", **_context(request, name=name, policy=text,
                                                     preview=preview, error=""))
