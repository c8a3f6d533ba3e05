"""Notes under a setup's table: what each server actually did, as observed in the runs
(pulls redirected or served, blobs stored sealed or plain, requests split over the nodes)."""
from __future__ import annotations

from .setups import Setup


def setup_notes(setup: Setup, runs: dict[str, list[dict]], o) -> list[str]:
    out = list(setup.notes)
    labels = {v.key: v.label for v in setup.variants}
    for key, rs in runs.items():
        out += [f"{labels[key]}: {n}" for n in (_pulls(rs), _at_rest(rs), _split(rs, o)) if n]
    return out + (setup.extra_notes(runs, o) if setup.extra_notes else [])


def _pulls(rs: list[dict]) -> str:
    pulls = [r["pull"] for r in rs if "mib_s" in r.get("pull", {})]
    if not pulls:
        return ""
    redirected = [p for p in pulls if p.get("redirected")]
    if not redirected:
        return f"pulls served by the registry itself in {len(pulls)}/{len(pulls)} run(s)."
    targets = sorted({p.get("redirect_to", "?") for p in redirected})
    return (f"pulls answered with a redirect to {', '.join(targets)} in "
            f"{len(redirected)}/{len(pulls)} run(s).")


def _at_rest(rs: list[dict]) -> str:
    checks = [r["at_rest"] for r in rs if "at_rest" in r]
    if not checks:
        return ""
    found = ", ".join(str(c.get("plaintext_files", "?")) for c in checks)
    return (f"stored files holding the pushed blob in plaintext, per run: {found} "
            "(files at least the blob's size, first MiB searched).")


def _split(rs: list[dict], o) -> str:
    top = max(o.concurrency)
    shares = []
    for r in rs:
        counts = r.get("manifests", {}).get(f"get_c{top}_port_requests")
        if counts and len(counts) > 1 and sum(counts):
            shares.append("/".join(f"{100 * c / sum(counts):.0f}%" for c in counts))
    return f"GET c{top} requests per node: {', '.join(shares)} (per run)." if shares else ""
