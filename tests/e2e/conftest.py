"""End-to-end tests: real registry clients (skopeo, buildah, podman, docker, oras-py) against a running registry.

One registry server is started per test session on a free 127.0.0.1 port with a temporary data directory:

* default: ``<python> -m berth serve --host 127.0.0.1 --port <port> --data-dir <tmp>``, started as every Berth
  node in the tests is (tests/support/berth_node.py's BerthNode), on one metadata database only: SQLite, the
  embedded default ``make serve`` runs on. The client tools see the same registry API on either database;
  the database matrix (SQLite and PostgreSQL) is carried by the in-process API tests (tests/unit/api: the
  OCI ``oci`` fixture, the ECR ``server`` fixtures) at a fraction of the cost.
* ``BERTH_E2E_TARGET=distribution``: CNCF Distribution (``/usr/bin/docker-registry serve <config.yml>``,
  filesystem storage, deletes enabled) -- a reference registry to check the tests themselves against.

It is ready once an unauthenticated ``GET /v2/`` answers: 401 from Berth (which requires authentication), 200 from
Distribution (which runs without). Berth's administrator token is then fetched as ECR users do, with
``aws ecr get-login-password`` and the access key Berth's first start wrote to ``<data-dir>/admin-credentials``
(``registry.token``; None for Distribution). Every client logs in with user ``AWS`` and that token the way its users
do (``skopeo login``, ``buildah``/``podman login``, ``docker login``, oras-py ``login``); direct HTTP checks send
HTTP Basic ``AWS:<token>``. Its log (and dockerd's, for the docker tests) is written to a file, and
the part logged during a failing test is attached to that test's report. Tests use distinct repositories so they can
share the server. Missing client tools fail the tests rather than skip them. Only the referrers API assertions and
the checks that clients are refused without a login are skipped, and only for Distribution 2.8, which predates that
API and runs without authentication.

PostgreSQL stays covered end to end by the tests that start their own nodes on it: two nodes sharing one
database (test_two_nodes.py, test_two_nodes_s3.py with S3 blobs, test_jobs_two_nodes.py, and
test_encryption_at_rest.py's key disabled through one node), the garbage collector racing pushes on PostgreSQL
and S3 (test_gc_race.py), ``berth worker`` processes sharing a database (test_worker.py), and crash recovery
and concurrent pushes on each database (test_crash_recovery.py, test_concurrent_push.py: tests/conftest.py's
``database_url``).

Run: ``.venv/bin/python -m pytest tests/e2e -q`` (add ``BERTH_E2E_TARGET=distribution`` for the reference run).
"""
from __future__ import annotations

import shutil
from typing import Callable, Iterator

import pytest

from tests.support.berth_node import BerthNode, new_master_key
from tests.support.containers_storage import BUILDAH, PODMAN, ContainersStorage
from tests.support.dockerd import DOCKER, DOCKERD, Dockerd
from tests.support.log_watch import LOGS
from tests.support.procs import require_binary
from tests.support.registry_api import RegistryAPI
from tests.support.registry_server import DISTRIBUTION_BIN, RegistryServer, selected_target, start_registry
from tests.support.skopeo import SKOPEO, Skopeo


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    LOGS.mark()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for title, text in LOGS.sections():
            report.sections.append((title, text))


@pytest.fixture(scope="session")
def e2e_target() -> str:
    return selected_target()


@pytest.fixture(scope="session")
def registry(e2e_target: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """The registry under test, once per session: Berth on its embedded defaults (SQLite, blob files),
    or Distribution. The PostgreSQL end-to-end coverage is in the tests that start their own nodes
    (see this module's docstring)."""
    if e2e_target == "distribution":
        require_binary(DISTRIBUTION_BIN)
    workdir = tmp_path_factory.mktemp(f"registry-{e2e_target}")
    server, problem = None, ""
    try:
        server = start_registry(workdir, e2e_target)
    except RuntimeError as exc:
        problem = str(exc)
    if server is None:
        pytest.fail(problem, pytrace=False)
    LOGS.add(f"{e2e_target} registry", server.daemon.log_path)
    try:
        yield server
    finally:
        server.stop()
        LOGS.remove(f"{e2e_target} registry")
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def registry_api(registry: RegistryServer) -> RegistryAPI:
    """Direct HTTP to the registry, authenticated as the administrator (HTTP Basic AWS:<token>)."""
    return RegistryAPI(registry.url, auth=registry.auth)


@pytest.fixture(scope="session")
def skopeo(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    """skopeo with its own auth file, logged in to the registry (`skopeo login`) when it needs a login."""
    require_binary(SKOPEO)
    client = Skopeo(tmp_path_factory.mktemp("skopeo"))
    if registry.token is not None:
        client.login(registry.host, registry.token)
    return client


@pytest.fixture
def containers_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ContainersStorage]]:
    """Factory for fresh, isolated buildah/podman image stores, removed after the test."""
    require_binary(BUILDAH)
    require_binary(PODMAN)
    made: list[ContainersStorage] = []

    def make(name: str) -> ContainersStorage:
        store = ContainersStorage(tmp_path_factory.mktemp(f"storage-{name}"))
        made.append(store)
        return store

    yield make
    for store in made:
        store.cleanup()


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    require_binary(DOCKERD)
    require_binary(DOCKER)
    require_binary("containerd")
    daemon, problem = Dockerd(tmp_path_factory.mktemp("dockerd")), ""
    try:
        daemon.start()
    except RuntimeError as exc:
        problem = str(exc)
    if problem:
        daemon.cleanup()
        pytest.fail(problem, pytrace=False)
    LOGS.add("dockerd", daemon.log_path)
    try:
        yield daemon
    finally:
        daemon.stop()
        LOGS.remove("dockerd")
        daemon.cleanup()


@pytest.fixture
def two_nodes(tmp_path, postgres) -> Iterator[tuple[BerthNode, BerthNode]]:
    """Two `berth serve` nodes of one deployment: one PostgreSQL database, one blob store."""
    url = postgres.create_database()
    env = {"BERTH_MASTER_KEY": new_master_key()}
    a = BerthNode(tmp_path / "a", database_url=url, blobs_dir=tmp_path / "blobs",
                  env=env).start()
    b = BerthNode(tmp_path / "b", database_url=url, blobs_dir=tmp_path / "blobs", env=env,
                  credentials_dir=a.data_dir).start()
    try:
        yield a, b
    finally:
        for node in (a, b):
            node.stop()
