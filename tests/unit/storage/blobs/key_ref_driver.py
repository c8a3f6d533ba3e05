"""Runs the driver contract suite on encrypted keys: every key the suite uses is put under a
key ref, and every upload started for it."""
from __future__ import annotations

from dataclasses import replace

from berth.storage.blobs.base import BlobDriver
from berth.storage.blobs.keyring import join_key


class KeyRefDriver(BlobDriver):
    def __init__(self, driver: BlobDriver, key_ref: str):
        self.driver = driver
        self.key_ref = key_ref
        self.name = driver.name

    def _key(self, key: str) -> str:
        return join_key(self.key_ref, key)

    def stat(self, key):
        return self.driver.stat(self._key(key))

    def read(self, key, *args, **kwargs):
        return self.driver.read(self._key(key), *args, **kwargs)

    def put(self, key, data):
        self.driver.put(self._key(key), data)

    def delete(self, key):
        self.driver.delete(self._key(key))

    def walk(self, prefix=""):
        strip = len(self._key(""))
        for found in self.driver.walk(self._key(prefix)):
            yield replace(found, key=found.key[strip:])

    def redirect_url(self, key, expires_in):
        return self.driver.redirect_url(self._key(key), expires_in)

    def upload_start(self, upload_id, key_ref=""):
        return self.driver.upload_start(upload_id, self.key_ref)

    def upload_writer(self, upload_id, state, offset):
        return self.driver.upload_writer(upload_id, state, offset)

    def upload_read(self, upload_id, state, size):
        return self.driver.upload_read(upload_id, state, size)

    def upload_commit(self, upload_id, state, size, key):
        self.driver.upload_commit(upload_id, state, size, self._key(key))

    def upload_abort(self, upload_id, state):
        self.driver.upload_abort(upload_id, state)

    def upload_ids_older_than(self, timestamp):
        return self.driver.upload_ids_older_than(timestamp)

    def check(self):
        self.driver.check()

    def close(self):
        self.driver.close()
