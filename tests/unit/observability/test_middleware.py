"""The request middleware on a bare ASGI app: one record per request, after the response,
with the route template, bytes both ways (the server's send extensions too) and the id."""
from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from berth.api.http.protocol import CHUNKS_SEND, SOCKET_BODY, ZEROCOPY_SEND
from berth.observability import context
from berth.observability.middleware import RequestObserver

MANIFEST_ROUTE = SimpleNamespace(path="/v2/{name:path}/manifests/{reference}")


def _scope(method="GET", path="/v2/team/web/manifests/v1", headers=(), **extra) -> dict:
    return {"type": "http", "method": method, "path": path, "query_string": b"",
            "headers": list(headers), "client": ("10.1.2.3", 5555), "state": {}, **extra}


def _run(app, scope, body_messages=()) -> tuple[list, list]:
    records, sent = [], []
    messages = list(body_messages) or [{"type": "http.request", "body": b"",
                                        "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    middleware = RequestObserver(app, [records.append])
    asyncio.run(middleware(scope, receive, send))
    return records, sent


def _answer(status=200, body=b"hello", route=MANIFEST_ROUTE):
    async def app(scope, receive, send):
        scope["route"] = route
        scope["path_params"] = {"name": "team/web", "reference": "v1"}
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})
    return app


def test_one_record_with_the_route_template_status_bytes_and_client():
    records, sent = _run(_answer(201, b"x" * 7), _scope("PUT"), [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"de", "more_body": False}])
    [record] = records
    assert record.protocol == "oci"
    assert record.route == "/v2/{name:path}/manifests/{reference}"
    assert (record.method, record.status, record.bytes_in, record.bytes_out) == (
        "PUT", 201, 5, 7)
    assert record.repository == "team/web" and record.source_ip == "10.1.2.3"
    assert record.seconds > 0
    assert (b"x-request-id", record.request_id.encode()) in sent[0]["headers"]


def test_a_sane_client_request_id_is_kept_an_insane_one_replaced():
    sane = "build-42.step:7_a"
    records, _ = _run(_answer(), _scope(headers=[(b"x-request-id", sane.encode())]))
    assert records[0].request_id == sane
    for bad in (b"a" * 129, b"has space", b"new\nline", b"caf\xc3\xa9", b""):
        records, _ = _run(_answer(), _scope(headers=[(b"x-request-id", bad)]))
        assert records[0].request_id != bad.decode("utf-8", "replace")
        assert len(records[0].request_id) == 36  # a fresh uuid


def test_head_counts_no_body_out():
    records, _ = _run(_answer(body=b"not sent"), _scope("HEAD"))
    assert records[0].bytes_out == 0


def test_the_callers_from_the_oci_gate_state():
    caller = SimpleNamespace(principal=SimpleNamespace(arn="arn:aws:iam::123456789012:user/ci"))
    address = SimpleNamespace(account_id="123456789012", region="eu-west-1")
    scope = _scope()
    scope["state"].update(caller=caller, address=address)
    [record] = _run(_answer(), scope)[0]
    assert record.principal_arn == "arn:aws:iam::123456789012:user/ci"
    assert (record.account_id, record.region) == ("123456789012", "eu-west-1")


def test_an_anonymous_public_pull_is_recorded_and_audited_with_no_principal():
    from berth.api.oci.public import ANONYMOUS
    from berth.audit.events import from_request
    from berth.iam.tenancy import PUBLIC, RegistryAddress

    scope = _scope()
    scope["state"].update(caller=ANONYMOUS, address=RegistryAddress("123456789012", PUBLIC))
    [record] = _run(_answer(), scope)[0]
    assert record.principal_arn == ""
    row = from_request(record)
    assert row["principal_arn"] == "" and row["name"] == "BatchGetImage"


def test_aws_json_routes_are_named_by_a_known_operation_only():
    async def app(scope, receive, send):
        scope["route"] = SimpleNamespace(path="/")
        context.note_operation(scope, "DescribeImages", True)
        context.note_operation(scope, "NoSuchThing", False)
        context.note_caller(scope, "arn:aws:iam::1:root", "1", "us-east-1")
        context.note_repository(scope, "web")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    [record] = _run(app, _scope("POST", "/"))[0]
    assert (record.protocol, record.route, record.repository) == ("ecr", "DescribeImages", "web")
    assert record.principal_arn == "arn:aws:iam::1:root"

    async def unknown(scope, receive, send):
        scope["route"] = SimpleNamespace(path="/admin")
        context.note_operation(scope, "Bogus", False)
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
    [record] = _run(unknown, _scope("POST", "/admin"))[0]
    assert (record.protocol, record.route) == ("admin", "-")


def test_bytes_a_redirect_hands_to_the_storage_reach_the_record():
    async def redirect(scope, receive, send):
        scope["route"] = SimpleNamespace(path="/v2/{name:path}/blobs/{digest}")
        context.note_redirected_bytes(scope, 5000)
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", b"https://store.example/blob")]})
        await send({"type": "http.response.body", "body": b""})
    [record] = _run(redirect, _scope(path="/v2/team/web/blobs/sha256:ab"))[0]
    assert (record.status, record.bytes_out, record.redirected_bytes) == (307, 0, 5000)
    assert _run(_answer(), _scope())[0][0].redirected_bytes == 0


def test_the_servers_send_extensions_are_counted():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": ZEROCOPY_SEND, "file": 0, "offset": 0, "count": 1000,
                    "more_body": True})
        await send({"type": CHUNKS_SEND, "chunks": iter([b"ab", b"cde"])})
    sent_chunks = []

    async def send(message):
        if message["type"] == CHUNKS_SEND:  # the server reads the chunks it is given
            sent_chunks.extend(message["chunks"])

    records = []
    asyncio.run(RequestObserver(app, [records.append])(_scope(), None, send))
    assert sent_chunks == [b"ab", b"cde"]
    assert records[0].bytes_out == 1005


def test_a_body_taken_off_the_socket_is_counted():
    body = SimpleNamespace(received=0)

    async def take():
        return body

    async def app(scope, receive, send):
        taken = await scope["extensions"][SOCKET_BODY]["take"]()
        taken.received = 4096  # what the socket body read
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    scope = _scope("PATCH", extensions={SOCKET_BODY: {"take": take}})
    assert _run(app, scope)[0][0].bytes_in == 4096


def test_a_failing_observer_is_logged_once_and_the_others_still_run(caplog):
    seen = []

    def broken(record):
        raise RuntimeError("observer bug")

    middleware = RequestObserver(_answer(), [broken, seen.append])

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass
    with caplog.at_level(logging.ERROR, logger="berth.observability"):
        for _ in range(3):
            asyncio.run(middleware(_scope(), receive, send))
    assert len(seen) == 3
    assert [r.getMessage() for r in caplog.records].count(
        f"request observer {broken!r} failed (logged once)") == 1


def test_an_app_that_raises_is_recorded_as_500_and_the_error_goes_on():
    async def app(scope, receive, send):
        raise ValueError("handler bug")
    records = []
    with pytest.raises(ValueError):
        asyncio.run(RequestObserver(app, [records.append])(_scope(), None, None))
    assert records[0].status == 500 and records[0].route == "-"


def test_the_request_id_is_the_context_while_handling_and_gone_after():
    seen = []

    async def app(scope, receive, send):
        seen.append(context.request_id_var.get())
        seen.append(context.request_id(scope))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    records, _ = _run(app, _scope())
    assert seen == [records[0].request_id] * 2
    assert context.request_id_var.get() == ""


def test_lifespan_passes_through():
    called = []

    async def app(scope, receive, send):
        called.append(scope["type"])
    asyncio.run(RequestObserver(app, [pytest.fail])({"type": "lifespan"}, None, None))
    assert called == ["lifespan"]
