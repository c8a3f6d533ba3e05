"""The console's pages: sign in and out, the registry's repositories (search, create), a
repository (its images, tags to delete, the pull command; delete it), and its policy
(edited as JSON, validated as the API validates it). Reads and changes are ECR API calls."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...iam.authentication import Unauthenticated
from ..web.pages import page
from . import session as cookies
from .calls import ConsoleError, admin_call, call, region_of
from .images import platforms as image_platforms
from .session import signed_in

LISTED = 1000  # repositories a search looks through
PAGE = 50
IMAGES_SHOWN = 100


def _go(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?region={region_of(request)}", status_code=303)


def _context(request: Request, **more) -> dict:
    tenancy = request.app.state.iam.tenancy
    return {"session": request.state.console, "region": region_of(request),
            "regions": tenancy.regions, **more}


async def sign_in_form(request: Request) -> Response:
    token = cookies.login_token(request)
    answer = page("console/sign_in.html", csrf=token, error="",
                  next=request.query_params.get("next", ""))
    cookies.set_cookie(answer, request, cookies.LOGIN_COOKIE, token, 3600)
    return answer


async def sign_in(request: Request) -> Response:
    form = await cookies.read_form(request)
    expected = request.cookies.get(cookies.LOGIN_COOKIE, "")
    nxt = str(form.get("next") or "")
    if not (expected and cookies.same_origin(request) and cookies.checked(expected,
                                                                          form.get("csrf"))):
        return page("console/sign_in.html", 403, csrf=cookies.login_token(request),
                    error="The form expired: try again.", next=nxt)
    sessions = cookies.sessions(request)
    try:
        if form.get("method") == "password":
            token, session = await sessions.sign_in_user_async(
                form.get("account_id", "").strip(), form.get("user_name", "").strip(),
                form.get("password", ""))
        else:
            token, session = await sessions.sign_in_async(
                form.get("access_key_id", "").strip(), form.get("secret_access_key", ""))
    except Unauthenticated as exc:
        return page("console/sign_in.html", 401, csrf=expected, error=str(exc), next=nxt)
    # Only a path of the console: never a redirect elsewhere.
    target = nxt if nxt.startswith("/console/") and "//" not in nxt else "/console/"
    answer = RedirectResponse(target, status_code=303)
    cookies.set_cookie(answer, request, cookies.COOKIE, token,
                       max(1, int(session.expires_at - time.time())))
    cookies.clear_cookie(answer, request, cookies.LOGIN_COOKIE)
    return answer


@signed_in
async def sign_out(request: Request) -> Response:
    await cookies.sessions(request).sign_out_async(request.cookies[cookies.COOKIE])
    answer = RedirectResponse("/console/sign-in", status_code=303)
    cookies.clear_cookie(answer, request, cookies.COOKIE)
    return answer


@signed_in
async def home(request: Request) -> Response:
    return _go(request, "/console/repositories")


@signed_in
async def repositories(request: Request) -> Response:
    query = request.query_params.get("q", "")[:256]
    found, error, token = [], "", None
    try:
        while len(found) < LISTED:
            params = {"maxResults": 100, **({"nextToken": token} if token else {})}
            answer = await call(request, "DescribeRepositories", params)
            found += answer["repositories"]
            token = answer.get("nextToken")
            if not token:
                break
    except ConsoleError as exc:
        error = exc.message
    matched = [r for r in found if query.casefold() in r["repositoryName"].casefold()]
    number = request.query_params.get("page", "0")
    number = int(number) if number.isdigit() and len(number) < 5 else 0
    shown = matched[number * PAGE:(number + 1) * PAGE]
    return page("console/repositories.html", **_context(
        request, repositories=shown, query=query, error=error, page=number,
        more=len(matched) > (number + 1) * PAGE, sizes=await _sizes(request)))


async def _sizes(request: Request) -> dict[str, int]:
    """Each repository's stored bytes, for a principal that may see them (else none)."""
    try:
        found = await admin_call(request, "GetStorageUsage", {})
    except ConsoleError:
        return {}
    region = region_of(request)
    return {repo["RepositoryName"]: repo["Bytes"] for registry in found["Registries"]
            if registry["Region"] == region for repo in registry["Repositories"]}


@signed_in
async def create_repository(request: Request) -> Response:
    form = request.state.form
    name = str(form.get("name") or "").strip()
    params = {"repositoryName": name,
              "imageTagMutability": "IMMUTABLE" if form.get("immutable") else "MUTABLE",
              "imageScanningConfiguration": {"scanOnPush": bool(form.get("scan_on_push"))}}
    if form.get("kms_key", "").strip():  # else ECR's default, AES256
        params["encryptionConfiguration"] = {"encryptionType": "KMS",
                                             "kmsKey": form["kms_key"].strip()}
    try:
        await call(request, "CreateRepository", params)
    except ConsoleError as exc:
        return page("console/error.html", 400, **_context(request, message=exc.message))
    return _go(request, f"/console/repositories/{quote(name)}")


@signed_in
async def repository(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        [repo] = (await call(request, "DescribeRepositories",
                             {"repositoryNames": [name]}))["repositories"]
        images = (await call(request, "DescribeImages", {
            "repositoryName": name, "maxResults": IMAGES_SHOWN}))["imageDetails"]
    except ConsoleError as exc:
        status = 404 if exc.code == "RepositoryNotFoundException" else 403
        return page("console/error.html", status, **_context(request, message=exc.message))
    images.sort(key=lambda i: i.get("imagePushedAt") or 0, reverse=True)
    made_of = await image_platforms(request, name, [i["imageDigest"] for i in images])
    try:
        tags = (await call(request, "ListTagsForResource",
                           {"resourceArn": repo["repositoryArn"]}))["tags"]
    except ConsoleError:  # may see the repository, not its tags
        tags = None
    return page("console/repository.html", **_context(
        request, repo=repo, images=images, resource_tags=tags,
        platforms={d: [p.name for p in found if p.name] for d, found in made_of.items()}))


async def _change(request: Request, operation: str, params: dict, back: str) -> Response:
    """A change from a form: the API call, then back to ``back``, or its refusal shown."""
    try:
        answer = await call(request, operation, params)
    except ConsoleError as exc:
        return page("console/error.html", 400, **_context(request, message=exc.message))
    if answer.get("failures"):
        return page("console/error.html", 400, **_context(
            request, message=answer["failures"][0].get("failureReason", "not done")))
    return _go(request, back)


def _deleting(id_member: str, field: str):
    """A form that deletes an image by the id member the form's ``field`` gives (a tag
    deletes the tag, a digest the image), as BatchDeleteImage does."""
    @signed_in
    async def delete(request: Request) -> Response:
        name = request.path_params["name"]
        return await _change(request, "BatchDeleteImage", {
            "repositoryName": name,
            "imageIds": [{id_member: request.state.form.get(field, "")}]},
            f"/console/repositories/{quote(name)}")
    return delete


delete_tag = _deleting("imageTag", "tag")
delete_image = _deleting("imageDigest", "digest")


@signed_in
async def tag_mutability(request: Request) -> Response:
    name = request.path_params["name"]
    return await _change(request, "PutImageTagMutability", {
        "repositoryName": name,
        "imageTagMutability": request.state.form.get("mutability", "")},
        f"/console/repositories/{quote(name)}")


@signed_in
async def delete_repository(request: Request) -> Response:
    return await _change(request, "DeleteRepository", {
        "repositoryName": request.path_params["name"],
        "force": bool(request.state.form.get("force"))}, "/console/repositories")


@signed_in
async def policy(request: Request) -> Response:
    name, error = request.path_params["name"], ""
    if request.method == "POST":
        text = str(request.state.form.get("policy") or "")
        try:
            if text.strip():
                await call(request, "SetRepositoryPolicy", {"repositoryName": name,
                                                            "policyText": text})
            else:
                await call(request, "DeleteRepositoryPolicy", {"repositoryName": name})
            return _go(request, f"/console/repositories/{quote(name)}/policy")
        except ConsoleError as exc:
            if exc.code != "RepositoryPolicyNotFoundException":
                return page("console/policy.html", 400, **_context(
                    request, name=name, policy=text, error=exc.message))
            return _go(request, f"/console/repositories/{quote(name)}/policy")
    try:
        text = (await call(request, "GetRepositoryPolicy", {"repositoryName": name})
                )["policyText"]
        text = json.dumps(json.loads(text), indent=2)
    except ConsoleError as exc:
        if exc.code != "RepositoryPolicyNotFoundException":
            return page("console/error.html", 403, **_context(request, message=exc.message))
        text = ""
    return page("console/policy.html", **_context(request, name=name, policy=text,
                                                  error=error))
