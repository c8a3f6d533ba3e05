"""deploy/Containerfile, for real: a minimal Debian bookworm made here by debootstrap (as
debian:bookworm-slim is made), imported as the base image, Berth's image built on it by
`buildah bud` (apt and pip reach their registries through the host's network), started by
`podman run` on a free loopback port with a data directory of the test's, then logged in to
as ECR users do (`aws ecr get-login-password` with the key its first start wrote into the
volume), pushed to and pulled from with skopeo, and stopped by `podman stop`.

One build per session, in a private vfs image store that is removed afterwards, as are the
container, the root file system and the data directory. The runtime is runc: crun refuses
this machine's hybrid cgroup layout. podman's default limits (a million files, four million
processes) are more than runc may set here, so the container gets modest ones."""
from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.containers_storage import BUILDAH, PODMAN, ContainersStorage
from tests.support.credentials import admin_key
from tests.support.ecr_login import get_login_password
from tests.support.log_watch import LOGS
from tests.support.mounts import unmount_under
from tests.support.oci_layout import OciLayout, build_image
from tests.support.ports import free_port, wait_until
from tests.support.procs import require_binary, run
from tests.support.skopeo import SKOPEO, Skopeo

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEBOOTSTRAP = "/usr/sbin/debootstrap"
RUNC = "/usr/sbin/runc"
SUITE = "bookworm"
BASE = "localhost/berth-e2e/bookworm:debootstrap"
IMAGE = "localhost/berth-e2e/berth:test"
DATA_DIR = "/var/lib/berth"
UID = 10001
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
STOP_SECONDS = 30


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for the suite (deb822 .sources files or
    one-line .list files), so debootstrap fetches from where apt-get does."""
    apt = Path("/etc/apt")
    for path in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            entry = dict(line.split(":", 1) for line in stanza.splitlines()
                         if ":" in line and not line.lstrip().startswith("#"))
            entry = {k.strip(): v.split() for k, v in entry.items()}
            if SUITE in entry.get("Suites", []) and "main" in entry.get("Components", []) \
                    and "deb" in entry.get("Types", []):
                return entry["URIs"][0]
    for path in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if words[:1] == ["deb"] and len(words) >= 4 and words[2] == SUITE and "main" in words[3:]:
                return words[1]
    return "http://deb.debian.org/debian"


def debootstrap_base(store: ContainersStorage, workdir: Path) -> None:
    """A minbase bookworm, imported into the store as BASE. It trusts the CAs this machine
    added to its own store (/usr/local/share/ca-certificates: a TLS-inspecting proxy's, say),
    as a site's base image would: the build's pip reaches PyPI through them."""
    rootfs = workdir / "rootfs"
    try:
        run([DEBOOTSTRAP, "--variant=minbase", SUITE, str(rootfs), debian_mirror()], timeout=900)
        local_cas = rootfs / "usr/local/share/ca-certificates"
        local_cas.mkdir(parents=True, exist_ok=True)
        for ca in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy(ca, local_cas / ca.name)
        tarball = workdir / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "--exclude=./dev/*", "--exclude=./proc/*",
             "--exclude=./sys/*", "--exclude=./var/cache/apt/archives/*.deb",
             "--exclude=./var/lib/apt/lists/*", "-cf", str(tarball), "."], timeout=300)
        store.podman("import", str(tarball), BASE, timeout=300)
    finally:
        unmount_under(rootfs)  # what a failed debootstrap may leave mounted (proc, sys)
        shutil.rmtree(rootfs, ignore_errors=True)
        (workdir / "rootfs.tar").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainersStorage]:
    for tool in (DEBOOTSTRAP, BUILDAH, PODMAN, RUNC, SKOPEO):
        require_binary(tool)
    base = tmp_path_factory.mktemp("deploy-image")
    store = ContainersStorage(base / "storage")
    try:
        yield store
    finally:
        store.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def image(store: ContainersStorage) -> dict:
    """The image built from deploy/Containerfile on the debootstrapped base; its config."""
    debootstrap_base(store, store.base.parent)
    store.buildah("bud", "--runtime", RUNC, "--format", "docker", "--network", "host",
                  "--build-arg", f"BASE={BASE}", "-f", str(ROOT / "deploy/Containerfile"),
                  "-t", IMAGE, str(ROOT), timeout=1200)
    return json.loads(store.podman("image", "inspect", IMAGE).stdout)[0]


@dataclass
class Running:
    name: str
    url: str
    host: str
    data_dir: Path
    log: Path


@pytest.fixture(scope="module")
def berth(store: ContainersStorage, image: dict) -> Iterator[Running]:
    """The image's default command (`berth serve`), on a free loopback port."""
    port = free_port()
    data_dir = store.base.parent / "data"
    data_dir.mkdir()
    log = store.base.parent / "berth.log"
    name = f"berth-e2e-{uuid.uuid4().hex[:8]}"
    store.podman("--runtime", RUNC, "run", "--detach", "--name", name, "--network", "host",
                 *LIMITS, "--env", "BERTH_HOST=127.0.0.1", "--env", f"BERTH_PORT={port}",
                 "--volume", f"{data_dir}:{DATA_DIR}:U", "--log-driver", "k8s-file",
                 "--log-opt", f"path={log}", IMAGE)
    LOGS.add("berth container", log)
    running = Running(name, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", data_dir, log)
    try:
        if not wait_until(lambda: _ready(running) or not _running(store, name), 180, 0.5) \
                or not _ready(running):
            pytest.fail(f"Berth's container did not become ready:\n{_log(running)}", pytrace=False)
        yield running
    finally:
        store.podman("rm", "--force", "--time", "5", name, check=False)
        LOGS.remove("berth container")


def _ready(running: Running) -> bool:
    try:
        return requests.get(f"{running.url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _running(store: ContainersStorage, name: str) -> bool:
    state = store.podman("inspect", "--format", "{{.State.Running}}", name, check=False)
    return state.stdout.strip() == "true"


def _log(running: Running) -> str:
    return running.log.read_text(errors="replace") if running.log.exists() else "<no log>"


def test_image_runs_berth_as_a_user_with_a_health_check(image: dict):
    config = image["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Cmd"] == ["berth", "serve"]
    assert "5000/tcp" in config["ExposedPorts"]
    assert DATA_DIR in config["Volumes"]
    assert f"BERTH_DATA_DIR={DATA_DIR}" in config["Env"]
    assert image["Healthcheck"]["Test"] == ["CMD", "python3", "/opt/berth/healthcheck.py"]  # docker format


def test_container_serves_from_its_volume(store: ContainersStorage, berth: Running):
    """Ready, healthy by the image's own check, its state in the volume and the user's alone,
    and `berth admin` in the container finds that state by the image's environment."""
    assert store.podman("healthcheck", "run", berth.name).returncode == 0
    credentials = berth.data_dir / "admin-credentials"
    for path in (credentials, berth.data_dir / "metadata.db", berth.data_dir / "master.key"):
        stat = path.stat()
        assert (stat.st_uid, stat.st_mode & 0o077) == (UID, 0), f"{path}: not the user's alone"
    account = re.search(r"administrator account (\d{12})", _log(berth)).group(1)
    listed = store.podman("exec", berth.name, "berth", "admin", "accounts", "list").stdout
    assert account in listed


def test_push_and_pull_with_an_ecr_login(berth: Running, tmp_path: Path):
    token = get_login_password(berth.url, admin_key(berth.data_dir))
    skopeo = Skopeo(tmp_path)
    skopeo.login(berth.host, token)
    pushed = build_image([{"hello.txt": b"hello from the deployed image\n"},
                          {"etc/berth-e2e": b"second layer\n"}])
    OciLayout(tmp_path / "src").write(pushed.blobs, {"1": pushed.manifest})
    ref = f"docker://{berth.host}/deploy/hello:1"
    skopeo.copy(f"oci:{tmp_path / 'src'}:1", ref)

    assert skopeo.inspect(ref)["Digest"] == pushed.manifest.digest
    pulled = OciLayout(tmp_path / "pulled")
    skopeo.copy(ref, f"oci:{pulled.path}:1")
    assert pulled.ref("1")["digest"] == pushed.manifest.digest
    for layer in pushed.layers:
        assert pulled.blob(layer.digest) == layer.data


def test_podman_stop_ends_berth_cleanly(store: ContainersStorage, berth: Running):
    """SIGTERM to `berth serve` (PID 1): it finishes and exits 0, well before podman's
    SIGKILL would."""
    started = time.monotonic()
    store.podman("stop", "--time", str(STOP_SECONDS), berth.name, timeout=STOP_SECONDS + 60)
    took = time.monotonic() - started
    state = json.loads(store.podman("inspect", berth.name).stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), _log(berth)
    assert took < STOP_SECONDS / 2, f"podman stop took {took:.1f}s"
    assert "Traceback" not in _log(berth)
