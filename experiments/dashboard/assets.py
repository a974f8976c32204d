"""The browser-side files of the Solara app, installed from the npm registry into Solara's CDN cache.

Solara's pages load their JavaScript and CSS (Vuetify app, RequireJS, Font Awesome) from a CDN
through the server's ``/_solara/cdn`` proxy, which serves a local cache first
(``solara.server.settings.assets.proxy_cache_dir``). On a machine that reaches only package
registries the CDN is out of reach, so ``ensure_assets`` fills that cache once with
``npm pack`` of the same package versions Solara's page template names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

FALLBACK_PACKAGES = ("@widgetti/solara-vuetify-app@10.1.1", "@widgetti/solara-vuetify3-app@5.2.0",
                     "@widgetti/vue-grid-layout@2.3.13-alpha.2", "font-awesome@4.5.0", "requirejs@2.3.6")
SOURCES = ("server/templates/solara.html.j2", "server/settings.py", "widgets/vue/gridlayout.vue")  # page, icons, GridDraggable
CDN_REF = re.compile(r"(?:\{\{cdn\}\}|\$\{this\.getCdn\(\)\}|fontawesome_path: str = \")/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/")


class AssetError(RuntimeError):
    """The page's browser files are missing and cannot be installed."""


def cache_dir() -> Path:
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def required_packages() -> tuple[str, ...]:
    """npm ``name@version`` of every package the dashboard's pages load from Solara's CDN (page, icons, grid)."""
    import solara

    root = Path(solara.__file__).parent
    found: list[str] = []
    for rel in SOURCES:
        try:
            found += CDN_REF.findall((root / rel).read_text())
        except OSError:
            return FALLBACK_PACKAGES
    return tuple(dict.fromkeys(found)) or FALLBACK_PACKAGES


def missing(packages=None, where: Path | None = None) -> list[str]:
    where = where or cache_dir()
    return [p for p in (packages or required_packages()) if not (where / p / "package.json").is_file()]


def ensure_assets(packages=None, where: Path | None = None, timeout: float = 300.0) -> list[str]:
    """Install the packages absent from the cache with ``npm pack``; returns those installed."""
    where = where or cache_dir()
    todo = missing(packages, where)
    if not todo:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"dashboard assets: {', '.join(todo)} not in {where} and npm is not installed "
                         "(install it, e.g. `apt-get install -y npm`, or set SOLARA_ASSETS_PROXY_CACHE_DIR to a filled cache)")
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="suanli-assets-") as tmp:
        try:
            subprocess.run([npm, "pack", *todo, "--pack-destination", tmp, "--silent"], capture_output=True,
                           text=True, timeout=timeout, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            detail = (getattr(err, "stderr", "") or "").strip().splitlines()[-1:] or [str(err)]
            raise AssetError(f"dashboard assets: `npm pack {' '.join(todo)}` failed: {detail[0]}") from None
        for spec in todo:
            name, _, version = spec.rpartition("@")
            tgz = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
            target = where / spec
            target.parent.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                with tarfile.open(Path(tmp) / tgz) as tar:
                    tar.extractall(stage, filter="data")
                shutil.rmtree(target, ignore_errors=True)
                try:
                    os.replace(stage / "package", target)
                except OSError:
                    if not (target / "package.json").is_file():  # not installed meanwhile by a parallel run
                        raise
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    return todo
