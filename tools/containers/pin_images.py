"""Pins the Kubernetes overlays' images to the digests of the images built here (`make pin-images`).

deploy/overlays/*/kustomization.yaml name every image by digest (`images: - name: alfagent-env,
digest: sha256:…`), never by a tag. The images are built locally, so the committed digests are
placeholders (all zeros: no engine finds them and a pod using one fails to pull, instead of running
whatever a tag points at). This replaces each with the digest the engine records for the image of
that name (`podman image inspect --format {{.Digest}}`; Docker knows one only for an image it has
pushed or pulled: `{{index .RepoDigests 0}}`), leaving the rest of each file as it is.
Pushed to a registry, an image has the digest the push printed: pin that one instead with
`kustomize edit set image NAME=REGISTRY/NAME@sha256:…`.

Usage: tools/containers/pin_images.py [--engine podman|docker] [--placeholder]
--placeholder: put the placeholders back (before a commit: a digest of this machine's build means
nothing elsewhere).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted((ROOT / "deploy" / "overlays").glob("*/kustomization.yaml"))
PLACEHOLDER = "sha256:" + "0" * 64
# `  - name: alfagent-env` then, on the next line, `    digest: sha256:…`
ENTRY = re.compile(r"^(?P<head>\s*- name: (?P<name>\S+)\n\s*digest: )(?P<digest>sha256:[0-9a-f]{64})$", re.M)


def digest_of(engine: str, image: str) -> str:
    template = "{{.Digest}}" if engine == "podman" else "{{index .RepoDigests 0}}"
    result = subprocess.run(
        [engine, "image", "inspect", "--format", template, image], capture_output=True, text=True, check=False
    )
    found = re.search(r"sha256:[0-9a-f]{64}", result.stdout)
    if result.returncode != 0 or not found:
        raise SystemExit(
            f"pin_images: {engine} knows no digest of {image} "
            f"({result.stderr.strip() or result.stdout.strip()}); build it first (`make images`), "
            "or with Docker push it and pin the digest the push printed"
        )
    return found.group(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["podman", "docker"])
    parser.add_argument("--placeholder", action="store_true", help="put the all-zero placeholders back")
    args = parser.parse_args()
    engine = args.engine or ("podman" if shutil.which("podman") else "docker")
    digests: dict[str, str] = {}

    def pinned(match: re.Match[str]) -> str:
        name = match.group("name")
        if args.placeholder:
            return match.group("head") + PLACEHOLDER
        if name not in digests:
            digests[name] = digest_of(engine, name)
        return match.group("head") + digests[name]

    # Every digest found before any file is written: a missing image leaves the overlays as they were.
    texts = {path: ENTRY.sub(pinned, path.read_text()) for path in OVERLAYS}
    for path, text in texts.items():
        if text != path.read_text():
            path.write_text(text)
        for match in ENTRY.finditer(text):
            print(f"{path.relative_to(ROOT)}: {match.group('name')}@{match.group('digest')}")


if __name__ == "__main__":
    main()
