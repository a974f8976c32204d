"""Panels of a finished run, and writing them safely: Parquet first, CSV and Stata .dta on request.

Core panels come from the Mesa DataCollector (one per agent type) and the market logs;
each study module adds its panel, its true parameters and its latent truths. How much is
written is the *outputs level*: ``summary`` (the national summary by year, a few kB),
``panels`` (plus agent, flow and study panels and truths: what ``suanli replicate`` reads)
or ``full`` (plus hourly snapshots, link loads and latent truths).

Nothing the program did not write is ever deleted or renamed: a run directory is built in
a temporary sibling named ``.suanli-tmp.NAME.PID.TOKEN`` and moved into place only at the
end; an existing target is replaced only if it is a SuanLi run whose every file the run's
manifest (``run.json``) lists, and then atomically (one ``renameat2`` exchange on Linux).
Temporary siblings of dead processes are removed at the next start; a SIGTERM raises
:class:`Terminated` so that the temporary directory of the run being written is removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from sim.agents import DataCentre, Firm, PowerSupplier, Province

STATA_TIMESTAMP = datetime(2000, 1, 1)
AGENT_PANELS = {"provinces": Province, "datacentres": DataCentre, "power": PowerSupplier, "firms_core": Firm}
OUTPUT_LEVELS = ("summary", "panels", "full")
FORMATS = ("parquet", "csv", "dta")
FULL_ONLY = ("snapshots", "links")
TMP_PREFIX = ".suanli-tmp."
OLD_PREFIX = ".suanli-old."
RUN_FILE = "run.json"
SIDE_FILES = (RUN_FILE, "summary.txt")
_TMP_RE = re.compile(r"^\.suanli-(?:tmp|old)\.(?P<name>.*)\.(?P<host>[A-Za-z0-9_-]*)-(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})$")


class OutputError(ValueError):
    """An output location or option that would lose data or cannot be written."""


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that ``finally`` blocks remove temporary files."""


# ----- panels ---------------------------------------------------------------------------------------------
def _agent_panel(model, agent_type, name: str) -> pd.DataFrame:
    df = model.datacollector.get_agenttype_vars_dataframe(agent_type)
    if df.empty:
        return df
    df = df.reset_index()
    df.insert(0, "year", df.pop("Step").astype(int) + model.config.start_year - 1)
    df = df.rename(columns={"AgentID": "agent_id"})
    return df.sort_values(["year", "agent_id"], kind="stable").reset_index(drop=True)


def panel_level(name: str) -> str:
    """The smallest outputs level that writes panel ``name``."""
    if name == "summary":
        return "summary"
    if name in FULL_ONLY or name.startswith("latent_"):
        return "full"
    return "panels"


def level_kept(name: str, outputs: str) -> bool:
    """Whether table ``name`` is written at the ``outputs`` level."""
    return OUTPUT_LEVELS.index(panel_level(name)) <= OUTPUT_LEVELS.index(outputs)


def iter_panels(model, outputs: str = "full", only: Iterable[str] | None = None):
    """The output tables of a run up to the ``outputs`` level (default all), as (name, frame) pairs
    built one at a time, so a writer holds one table at once; tables above the level are not built,
    and ``only`` builds just the named ones (the calibration's fast path asks for the few panels its
    statistics read)."""
    check_outputs(outputs)
    only = None if only is None else set(only)

    def want(name: str) -> bool:
        return level_kept(name, outputs) and (only is None or name in only)

    if want("summary"):
        yield "summary", model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    if outputs == "summary":
        return
    for name, t in AGENT_PANELS.items():
        if want(name):
            yield name, _agent_panel(model, t, name)
    if want("flows"):
        yield "flows", pd.concat(model.flow_records, ignore_index=True) if model.flow_records else pd.DataFrame()
    if want("snapshots"):
        from sim.market import snapshot_table

        yield "snapshots", snapshot_table(model)
    if want("links"):
        yield "links", pd.concat(model.link_records, ignore_index=True) if model.link_records else pd.DataFrame()
    if want("parameters"):
        yield "parameters", model.params.to_frame().assign(value=lambda d: d["value"].astype(float))
    yield from iter_study_tables(model, want=want)


def collect_panels(model, outputs: str = "full", only: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The output tables of a run up to the ``outputs`` level (default all), by name (``iter_panels``)."""
    return dict(iter_panels(model, outputs, only))


def iter_study_tables(model, want=lambda name: True):
    """Each study's panel, truth and non-empty latent truths as (name, frame) pairs, ``study_<name>``,
    ``truth_<name>``, ``latent_<name>``, those that ``want(name)`` accepts."""
    for name, study in model.studies.items():
        if want(f"study_{name}"):
            yield f"study_{name}", study.panel()
        if want(f"truth_{name}"):
            yield f"truth_{name}", study.truth()
        if want(f"latent_{name}"):
            lat = study.latent()
            if not lat.empty:
                yield f"latent_{name}", lat


def study_tables(model, latent: bool = True) -> dict[str, pd.DataFrame]:
    """The study tables of ``iter_study_tables`` by name: what the estimands of a run are computed from."""
    return dict(iter_study_tables(model, want=lambda name: latent or not name.startswith("latent_")))


def check_outputs(outputs: str) -> str:
    if outputs not in OUTPUT_LEVELS:
        raise OutputError(f"--outputs = {outputs!r}: must be one of {', '.join(OUTPUT_LEVELS)}")
    return outputs


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"parquet,csv"`` -> ("parquet", "csv"); Parquet is always written, so it comes first."""
    raw = text if isinstance(text, str) else ",".join(text)
    items = [t.strip() for t in raw.split(",") if t.strip()]
    if not items or any(t not in FORMATS for t in items):
        raise OutputError(f"--formats = {raw!r}: must be a comma-separated list of {', '.join(FORMATS)}")
    return ("parquet", *[f for f in FORMATS[1:] if f in items])


# ----- writing one table -------------------------------------------------------------------------------------
def _stata_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype(np.int8)
        elif not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype(str)
    return out


def stata_labels(panel: str, columns: Iterable[str]) -> dict[str, str]:
    """Stata variable labels (at most 80 characters) from the data dictionary: meaning [unit]."""
    from sim.dictionary import lookup

    labels = {}
    for col in columns:
        entry = lookup(panel, col)
        if entry is not None:
            unit, meaning = entry
            text = f"{meaning} [{unit}]" if unit and unit != "-" else meaning
            labels[col] = text if len(text) <= 80 else text[:77] + "..."
    return labels


def write_table(df: pd.DataFrame, base: Path, formats: tuple[str, ...]) -> list[Path]:
    """``df`` as ``base``.parquet (zstd) and, if listed, .csv and Stata 118 .dta with variable labels."""
    written = []
    if "parquet" in formats:
        df.to_parquet(base.with_suffix(".parquet"), index=False, engine="pyarrow", compression="zstd")
        written.append(base.with_suffix(".parquet"))
    if "csv" in formats:
        pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), base.with_suffix(".csv"))
        written.append(base.with_suffix(".csv"))
    if "dta" in formats and not df.empty:
        _stata_ready(df).to_stata(base.with_suffix(".dta"), write_index=False, time_stamp=STATA_TIMESTAMP, version=118,
                                  variable_labels=stata_labels(base.name, df.columns))
        written.append(base.with_suffix(".dta"))
    return written


# ----- provenance ------------------------------------------------------------------------------------------
_GIT: dict[str, str | None] = {}


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("suanli")
    except PackageNotFoundError:
        return "unknown"


def git_commit() -> str | None:
    """The commit of the source tree this package runs from (``+dirty`` if modified), or None outside git."""
    if "commit" not in _GIT:
        root = Path(__file__).resolve().parent.parent
        try:
            head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
            commit = head.stdout.strip() if head.returncode == 0 else None
            if commit:
                st = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=5)
                commit += "+dirty" if st.returncode == 0 and st.stdout.strip() else ""
        except (OSError, subprocess.SubprocessError):
            commit = None
        _GIT["commit"] = commit
    return _GIT["commit"]


def parameters_hash(params) -> str:
    """SHA-256 of the structural parameters (section, name, value) a run used."""
    t = params.to_frame()
    text = "\n".join(f"{s}.{n}={float(v)!r}" for s, n, v in zip(t["section"], t["name"], t["value"]))
    return hashlib.sha256(text.encode()).hexdigest()


def config_dict(config) -> dict:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(config), sort_keys=True, default=list))


# ----- where a run may go --------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove SuanLi's own temporary directories (``.suanli-tmp.*`` / ``.suanli-old.*``) left in
    ``directory`` by processes that no longer run; returns what was removed."""
    removed = []
    d = Path(directory)
    if not d.is_dir():
        return removed
    for p in d.iterdir():
        m = _TMP_RE.match(p.name)
        if m and m["host"] == _host() and p.is_dir() and not p.is_symlink() and not _pid_alive(int(m["pid"])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", os.uname().nodename if hasattr(os, "uname") else "host")


def _owner_tag() -> str:
    return f"{_host()}-{os.getpid()}.{secrets.token_hex(4)}"


def temp_sibling(target: Path, prefix: str = TMP_PREFIX) -> Path:
    """A new empty directory beside ``target`` named (host, pid) so that SuanLi recognises it as its own."""
    tmp = target.with_name(f"{prefix}{target.name}.{_owner_tag()}")
    tmp.mkdir()
    return tmp


def _manifest(directory: Path) -> list[str] | None:
    try:
        info = json.loads((directory / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or "seed" not in info:
        return None
    if isinstance(info.get("files"), list):
        return [str(f) for f in info["files"]] + [RUN_FILE]
    legacy = re.compile(r"^[a-z][a-z0-9_]*\.(parquet|csv|dta)$")
    return sorted(p.name for p in directory.iterdir() if legacy.match(p.name) or p.name in SIDE_FILES)


def foreign_entries(directory: Path) -> list[str]:
    """Entries of ``directory`` that a SuanLi run did not write (all of them if it is not a run)."""
    names = sorted(p.name for p in directory.iterdir())
    listed = _manifest(directory)
    if listed is None:
        return names
    return [n for n in names if n not in listed or (directory / n).is_dir()]


def writable_location(path: Path, what: str = "--out") -> None:
    """Raise ``OutputError`` unless ``path`` can be created: not ``.``, not a file, nearest existing parent writable."""
    if path.resolve() == Path.cwd().resolve() or str(path) in ("", "."):
        raise OutputError(f"{what} = {str(path)!r}: must name a new or SuanLi output directory, not the current directory")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} = {str(path)!r}: is a file; must name a directory (the file is left untouched)")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} = {str(path)!r}: {parent} is not a writable directory")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{what} = {str(path)!r}: is not writable")


def check_run_target(out: str | Path, what: str = "--out") -> Path:
    """Raise ``OutputError`` unless a run may be written to ``out``: new, empty, or a SuanLi run
    made only of files it wrote (which is then replaced atomically)."""
    out = Path(out)
    if out.is_symlink():
        out = out.resolve()  # write where the link points; the link itself is the user's and stays
    writable_location(out, what)
    if out.is_dir():
        foreign = foreign_entries(out)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise OutputError(f"{what} = {str(out)!r}: directory holds files SuanLi did not write ({shown}); "
                              "choose a new or empty directory")
    return out


_LIBC = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    global _LIBC
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = _LIBC.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory ``src`` to ``dst``. An existing ``dst`` must be a SuanLi run
    (checked again here); it is swapped out atomically and then removed."""
    if not dst.exists():
        os.rename(src, dst)
        return
    check_run_target(dst)
    if _exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)
        return
    old = dst.with_name(f"{OLD_PREFIX}{dst.name}.{_owner_tag()}")
    os.rename(dst, old)
    os.rename(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def write_run(model, out_dir: str | Path, meta: dict | None = None, formats: tuple[str, ...] = ("parquet",),
              outputs: str = "panels", tables: dict[str, pd.DataFrame] | None = None,
              derive: Callable | None = None, release: bool = False) -> Path:
    """Write ``model``'s panels up to the ``outputs`` level in ``formats`` to ``out_dir``; returns the directory.

    ``tables`` are further tables computed from the run by higher layers (the ``estimands``,
    which need the estimators of ``analysis``), written beside the panels when their level is
    kept. ``derive(model, outputs)``, called once the panels are written, is the other way to
    give them: it takes from the model what the tables need and returns the function that
    computes them (``experiments.ensemble.deferred_tables``). With ``release=True`` the model's
    logs are dropped and freed before that function runs (``SuanLiModel.drop_logs``; the model's
    national summary stays), so that the estimators' imports and working memory take the place
    of the model's in memory instead of adding to it. ``run.json`` records the seed, years,
    resolved config, parameters hash, package version, git commit, the outputs level, formats and
    the list of files; ``meta`` adds to it.
    """
    check_outputs(outputs)
    formats = parse_formats(formats)
    out = check_run_target(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out.parent)
    tmp = temp_sibling(out)
    try:
        files: list[str] = []

        def write(items) -> None:
            for name, df in items:
                files.extend(p.name for p in write_table(df, tmp / name, formats))
                del df
                pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages; one table at a time

        write(iter_panels(model, outputs))
        compute = derive(model, outputs) if derive is not None else dict
        summary = format_summary(model)
        info = {
            "seed": model.seed_value,
            "start_year": model.config.start_year,
            "end_year": model.config.end_year,
            "config": config_dict(model.config),
            "policy": {"before": model.config.policy_before, "after": model.config.policy_after,
                       "options": model.config.policy_options},
            "parameters_sha256": parameters_hash(model.params),
            "package_version": package_version(),
            "git_commit": git_commit(),
            "outputs": outputs,
            "formats": list(formats),
            **(meta or {}),
        }
        if release:
            model.drop_logs()
            trim_heap()
        extra = {**(tables or {}), **compute()}
        write((k, v) for k, v in extra.items() if level_kept(k, outputs))
        del extra
        (tmp / "summary.txt").write_text(summary + "\n", encoding="utf-8")
        files.append("summary.txt")
        info["files"] = sorted(files)
        (tmp / RUN_FILE).write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; a no-op elsewhere): freed
    numpy arrays of a few kB stay in the heap otherwise, where Python's own allocator, which takes
    fresh pages for the objects of newly imported modules, does not reuse them."""
    global _LIBC
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def read_run_info(directory: str | Path) -> dict | None:
    """The ``run.json`` of a finished run directory, or None if there is none (or it is unreadable)."""
    try:
        info = json.loads((Path(directory) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


# ----- signals ------------------------------------------------------------------------------------------------
def _raise_terminated(signum, frame):
    raise Terminated(f"signal {signum}")


def ignore_interrupt() -> None:
    """In a worker process: leave Ctrl-C (SIGINT, sent to the whole process group) to the parent, which
    stops the run and says so in one line; the worker is shut down or terminated by its pool."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        pass


def _quiet_distributed() -> None:
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # gathers cut short: "Task exception was never retrieved"


def quiet_cancelled_tasks(own_client=None) -> None:
    """After Ctrl-C: Dask's warnings about the tasks it cancels on the way down are not news to the user;
    silenced here and, given the client of a cluster this process started, on its workers."""
    _quiet_distributed()
    if own_client is not None:
        try:
            own_client.run(_quiet_distributed)
        except Exception:  # a cluster already going down: the one line about the interrupt still comes
            pass


def local_dask_client(workers: int):
    """A Dask LocalCluster of ``workers`` single-threaded processes without a dashboard, its Client, and
    workers that leave Ctrl-C to this process (:func:`ignore_interrupt`); returns (client, cluster)."""
    from distributed import Client, LocalCluster

    # no dashboard, and the scheduler's HTTP server (always started) on a free port: two runs at once
    # would otherwise both want 8787 and warn
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"})
    try:
        client = Client(cluster)
        client.run(ignore_interrupt)
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def stop_pool(pool) -> None:
    """Cancel a ProcessPoolExecutor's queued tasks and terminate its workers: after Ctrl-C or an error,
    nobody waits for replications still running."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=15)


def install_sigterm_handler() -> None:
    """Turn SIGTERM into a :class:`Terminated` exception in the main thread (so temporaries are removed)."""
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:
        pass


SUMMARY_COLUMNS = {
    "racks_million": ("racks (M)", "{:.2f}"),
    "eflops_general": ("general EFLOPS", "{:.1f}"),
    "eflops_intelligent": ("intel. EFLOPS", "{:.1f}"),
    "intelligent_share": ("intel. share", "{:.1%}"),
    "dc_electricity_twh": ("DC TWh", "{:.1f}"),
    "dc_electricity_share": ("DC share", "{:.2%}"),
    "east_to_west_pflop_h": ("E->W PFLOP-h", "{:.3g}"),
    "west_utilisation": ("west util.", "{:.1%}"),
    "unserved_share": ("unserved", "{:.2%}"),
    "sla_violation_share": ("SLA viol.", "{:.2%}"),
    "inference_latency_ms": ("latency ms", "{:.2f}"),
    "dc_carbon_mt": ("DC MtCO2", "{:.1f}"),
}


def format_summary(model, years: list[int] | None = None) -> str:
    """The run summary as a fixed-width table of national figures by year."""
    df = model.datacollector.get_model_vars_dataframe()
    if years:
        df = df[df["year"].isin(years)]
    rows = {"year": df["year"].astype(int).astype(str)}
    for col, (label, fmt) in SUMMARY_COLUMNS.items():
        if col in df:
            rows[label] = df[col].map(lambda v, f=fmt: f.format(v))
    return pd.DataFrame(rows).to_string(index=False)
