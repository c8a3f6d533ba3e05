"""A repository deleted (without force) while a push into it commits: the push wins, or the
delete does and the push fails -- never an acknowledged image cascaded away (PostgreSQL runs
the two transactions at once; SQLite one after the other)."""
import threading

from berth.quotas import services as quotas
from berth.registry.errors import RepositoryNotEmpty
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.repositories.settings import RepositorySettings, RepositorySettingsService
from tests.support.registry_images import image_manifest


def test_a_push_committing_during_a_delete_keeps_its_image(registry, monkeypatch):
    settings = RepositorySettingsService(registry.db, registry.registry_id)
    settings.create("app", RepositorySettings())
    body = image_manifest(registry, "app")
    inserted, release = threading.Event(), threading.Event()
    check_images = quotas.check_images

    def held(*args):  # the push's transaction, its manifest inserted, held open
        inserted.set()
        assert release.wait(30)
        return check_images(*args)

    monkeypatch.setattr(quotas, "check_images", held)
    pushed: list = []
    push = threading.Thread(target=lambda: pushed.append(
        registry.manifests.put("app", "v1", body, OCI_MANIFEST)))
    push.start()
    assert inserted.wait(30)
    outcome: list = []

    def delete():
        try:
            outcome.append(settings.delete("app"))
        except RepositoryNotEmpty as exc:
            outcome.append(exc)
    deleting = threading.Thread(target=delete)
    deleting.start()
    deleting.join(1.0)  # it waits for the push (its lock, or SQLite's writer lock)
    assert deleting.is_alive()
    release.set()
    push.join(30)
    deleting.join(30)
    assert pushed, "the push failed"
    [result] = outcome
    assert isinstance(result, RepositoryNotEmpty)
    assert registry.repositories.tags("app", None, None) == (["v1"], False)
