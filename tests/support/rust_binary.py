"""A Rust program as cargo-auditable leaves it: an ELF executable with a ``.dep-v0`` section
holding the zlib-compressed JSON list of its crates, added by binutils' objcopy to a real
executable (no Rust toolchain needed)."""
from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path


def auditable_binary(workdir: Path, crates: list[dict]) -> bytes:
    assert shutil.which("objcopy"), "binutils is one of the test tools"
    section = workdir / "dep-v0.bin"
    section.write_bytes(zlib.compress(json.dumps({"packages": crates}).encode(), 9))
    out = workdir / "auditable"
    subprocess.run(["objcopy", "--add-section", f".dep-v0={section}", shutil.which("true"),
                    str(out)], check=True, capture_output=True)
    return out.read_bytes()


def crate(name: str, version: str, source: str = "crates.io", kind: str = "runtime",
          **more) -> dict:
    return {"name": name, "version": version, "source": source, "kind": kind, **more}
