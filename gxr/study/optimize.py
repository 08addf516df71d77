"""`gxr optimize`: the fastest deployment of one model that keeps its task metric, on this machine.

Each candidate graph (FP32, FP16, INT8 per calibration method) is a version of the model name in the repository:
an existing version of the same checkpoint and precision is reused, a missing one is exported (staged, published
whole; nothing published is changed). Every version x backend x thread count is timed in its own block under the
one noise rule (gxr.bench.noise), scored on the real test split, and gated against FP32 under ONNX Runtime by the
comparator: mean test AUC may drop at most `auc_tolerance`, and at least `min_agreement` of the test decisions
must stay the same. The winner (by the objective) is written to models/<name>/recommended.json, which gxr.load
follows. Unlike a tensor-tolerance gate (Triton Model Navigator's), the gate here is the task's own metric."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gxr.bench.latency import Timing, timings_json
from gxr.bench.matrix import REFERENCE_BACKEND, Cell, CellScores, CellSpec, machine_with_backends, measure_cells
from gxr.bench.noise import NoiseMonitor, NoiseRule
from gxr.core.errors import GxrError, one_line
from gxr.core.manifest import BatchRange, Manifest
from gxr.core.recommended import Recommendation, write_recommendation
from gxr.core.repository import published_versions, resolve_model_dir

OBJECTIVES = ("latency", "throughput")
DEFAULT_BACKENDS = ("onnxruntime", "openvino", "openvino:bf16")
DEFAULT_MIN_AGREEMENT = 0.95   # at most 1 test decision in 20 may change


@dataclass(frozen=True)
class OptimizeOptions:
    """What to try and how to judge it."""

    repo: Path | None = None            # default: models/ (a run) or the name folder's parent (models/NAME)
    name: str | None = None             # default: the run's name, or NAME
    data: str | None = None             # test split for the gate (default: the model's own data)
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    calib_methods: tuple[str, ...] = ("entropy",)
    calib_count: int = 64
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    threads: tuple[int | None, ...] = (None,)
    batch_sizes: tuple[int, ...] = (1, 16)
    objective: str = "throughput"       # latency: p50 ms/image at the smallest batch; throughput: at any batch
    auc_tolerance: float = 0.005
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    auc_limit: int = 1000               # test images scored per graph
    warmup: int = 5
    iters: int = 30
    input_dtype: str = "uint8"          # for a run's new versions; a model name keeps its own contract
    noise_rule: NoiseRule = field(default_factory=NoiseRule)

    def validate(self) -> OptimizeOptions:
        from gxr.export.quantize import CALIB_METHODS, check_precision

        if self.objective not in OBJECTIVES:
            raise GxrError(f"objective {self.objective!r}: choose latency or throughput")
        for precision in self.precisions:
            check_precision(precision)
        for method in self.calib_methods:
            if method not in CALIB_METHODS:
                raise GxrError(f"calibration method {method!r}: choose from {', '.join(CALIB_METHODS)}")
        if not self.precisions or not self.backends or not self.batch_sizes:
            raise GxrError("nothing to try: give at least one precision, backend and batch size")
        if "fp32" not in self.precisions:
            raise GxrError("precisions must include fp32: it is the reference every candidate is gated against")
        if any(b < 1 for b in self.batch_sizes) or any(t is not None and t < 1 for t in self.threads):
            raise GxrError("batch sizes and thread counts must be >= 1")
        if self.auc_tolerance < 0 or not 0 <= self.min_agreement <= 1:
            raise GxrError("auc tolerance must be >= 0 and min agreement in 0..1")
        return self


@dataclass
class Candidate:
    """One graph to try: a precision (and INT8 calibration method) as a version of the model name."""

    key: str                            # fp32 | fp16 | int8-entropy ...
    precision: str
    calib_method: str | None
    version: int | None = None
    reused: bool = False                # an existing version of the same checkpoint and precision
    seconds: float = 0.0                # export time (0 when reused)
    problem: str | None = None          # why it could not be built (one line)

    def path(self, model_dir: Path) -> Path:
        return model_dir / str(self.version)


@dataclass
class Row:
    """One configuration: a candidate under one backend, thread count and batch size, and how it fared."""

    candidate: str
    version: int | None
    precision: str
    backend: str
    threads: int | None
    batch: int | None
    provider: str = ""
    p50_ms: float | None = None         # per image
    p90_ms: float | None = None
    images_per_s: float | None = None
    speedup_vs_fp32_ort: float | None = None
    mean_auc: float | None = None
    auc_delta: float | None = None
    label_agreement: float | None = None
    passes_gate: bool = False
    on_front: bool = False              # Pareto front of (ms/image, AUC drop)
    verdict: str = ""                   # winner, or why it lost

    @property
    def label(self) -> str:
        threads = f"{self.threads}t" if self.threads else "default threads"
        return f"{self.candidate} v{self.version} {self.backend} {threads} b{self.batch}"


@dataclass
class OptimizeResult:
    name: str
    repo: str
    checkpoint: str
    options: OptimizeOptions
    candidates: list[Candidate]
    rows: list[Row]
    winner: Row | None
    recommendation: Recommendation | None
    machine: dict[str, Any]
    noise: dict[str, Any]
    warnings: list[str]
    timings: list[Timing]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        settings = asdict(self.options) | {"repo": str(self.options.repo) if self.options.repo else None}
        return {"kind": "optimize", "name": self.name, "repo": self.repo, "checkpoint": self.checkpoint,
                "settings": settings, "machine": self.machine, "seconds": self.seconds,
                "candidates": [asdict(c) for c in self.candidates],
                "rows": [asdict(r) | {"label": r.label} for r in self.rows],
                "pareto_front": [r.label for r in self.rows if r.on_front],
                "winner": asdict(self.winner) | {"label": self.winner.label} if self.winner else None,
                "recommended": self.recommendation.to_dict() if self.recommendation else None,
                "noise": self.noise, "warnings": self.warnings, "timings": timings_json(self.timings)}


# ---- the source checkpoint and the candidates -------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    checkpoint: Path
    sha256: str
    repo: Path
    name: str
    input_dtype: str


def resolve_source(model: Path, options: OptimizeOptions) -> Source:
    """A run directory / model.pt, or models/NAME (its newest version's source checkpoint, which must be here
    and unchanged) -> what to export from and where to."""
    from gxr.core.fileio import sha256_file
    from gxr.core.modelinfo import resolve_model_pt

    model = Path(model)
    if model.is_dir() and (published_versions(model) or (model / "manifest.json").is_file()):
        version_dir, manifest = resolve_model_dir(model)
        ckpt = Path(manifest.source.get("checkpoint") or "")
        if not ckpt.is_file():
            raise GxrError(f"{model}: its source checkpoint {ckpt} is not on this machine; optimize needs it to "
                           "export the other precisions")
        sha = sha256_file(ckpt)
        if sha != manifest.source.get("sha256"):
            raise GxrError(f"{ckpt}: changed since {version_dir} was exported (sha256 differs)")
        name_dir = version_dir.parent
        return Source(ckpt, sha, options.repo or name_dir.parent, options.name or name_dir.name,
                      "uint8" if manifest.input.dtype == "uint8" else "float")
    ckpt = resolve_model_pt(model)
    name = options.name or (ckpt.parent.name if ckpt.parent.name not in ("", ".") else ckpt.stem)
    return Source(ckpt, sha256_file(ckpt), options.repo or Path("models"), name, options.input_dtype)


def wanted_candidates(options: OptimizeOptions) -> list[Candidate]:
    out = []
    for precision in dict.fromkeys(options.precisions):
        if precision == "int8":
            out += [Candidate(f"int8-{m}", "int8", m) for m in dict.fromkeys(options.calib_methods)]
        else:
            out.append(Candidate(precision, precision, None))
    return out


def matches(manifest: Manifest, source: Source, candidate: Candidate, options: OptimizeOptions) -> bool:
    """A published version that already is this candidate: same checkpoint, input contract and precision (and,
    for INT8, the same calibration method and count)."""
    record = manifest.precision or {"precision": "fp32"}
    if manifest.source.get("sha256") != source.sha256 or record.get("precision") != candidate.precision:
        return False
    if (manifest.input.dtype == "uint8") != (source.input_dtype == "uint8"):
        return False
    if manifest.batch.max < max(options.batch_sizes):
        return False
    if candidate.precision == "int8":
        calib = record.get("calibration") or {}
        return calib.get("method") == candidate.calib_method and calib.get("count") == options.calib_count
    return True


def build_candidate(candidate: Candidate, source: Source, options: OptimizeOptions,
                    notify: Callable[[str], None]) -> Candidate:
    """Reuse a matching published version or export a new one; a failure (the export's own AUC gate included)
    becomes the candidate's one-line problem."""
    from gxr.core.repository import version_manifests

    existing = [m for m in version_manifests(source.repo / source.name)
                if matches(m, source, candidate, options)] if (source.repo / source.name).is_dir() else []
    if existing:
        return replace(candidate, version=existing[-1].version, reused=True)
    from gxr.export.onnx_export import export_model
    from gxr.export.options import ExportOptions
    from gxr.export.quantize import Calibration

    top = max(options.batch_sizes)
    export = ExportOptions(name=source.name, batch=BatchRange(1, min(16, top), max(32, top)),
                           input_dtype=source.input_dtype, data_spec=options.data, precision=candidate.precision,
                           calib=Calibration(None, options.calib_count, candidate.calib_method)
                           if candidate.precision == "int8" else None,
                           auc_tolerance=options.auc_tolerance, precision_parity_limit=options.auc_limit)
    start = time.perf_counter()
    try:
        _, manifest = export_model(source.checkpoint, source.repo, export.validate(), notify)
    except GxrError as exc:
        return replace(candidate, problem=f"export failed: {one_line(exc)}", seconds=time.perf_counter() - start)
    return replace(candidate, version=manifest.version, seconds=time.perf_counter() - start)


# ---- measuring, gating, choosing --------------------------------------------------------------------------------
def cell_specs(candidates: list[Candidate], model_dir: Path, options: OptimizeOptions) -> list[CellSpec]:
    """FP32 under ONNX Runtime first (the reference), then every other built candidate x backend x threads."""
    specs = []
    for c in candidates:
        if c.problem:
            continue
        for backend in options.backends:
            for threads in options.threads:
                specs.append(CellSpec(cell_label(c, backend, threads), c.path(model_dir), backend, threads))
    specs.sort(key=lambda s: not (s.label.startswith("fp32 ") and s.backend == REFERENCE_BACKEND))
    return specs


def cell_label(c: Candidate, backend: str, threads: int | None) -> str:
    return f"{c.key} v{c.version} ({backend}{f', {threads}t' if threads else ''})"


def rows_of(cells: list[Cell], timings: list[Timing], candidates: list[Candidate], options: OptimizeOptions,
            model_dir: Path) -> list[Row]:
    """One row per (cell, batch) with its gate; one row per cell that failed; one per candidate not built."""
    from gxr.bench.matrix import matrix_rows

    by_path = {str(c.path(model_dir)): c for c in candidates if not c.problem}
    rows: list[Row] = []
    speed = {(r["model"], r["batch"]): r for r in matrix_rows(cells, timings)}
    for cell in cells:
        cand = by_path[cell.path]
        base = dict(candidate=cand.key, version=cand.version, precision=cand.precision, backend=cell.backend,
                    threads=cell.threads)
        if cell.problem:
            rows.append(Row(**base, batch=None, provider=cell.provider, verdict=f"failed: {cell.problem}"))
            continue
        for batch in options.batch_sizes:
            r = speed.get((cell.label, batch))
            if r is None:
                continue
            row = Row(**base, batch=batch, provider=cell.provider, p50_ms=r["p50_ms"], p90_ms=r["p90_ms"],
                      images_per_s=1000.0 / r["p50_ms"], speedup_vs_fp32_ort=r["speedup_vs_fp32_ort"],
                      mean_auc=cell.mean_auc, auc_delta=cell.auc_delta, label_agreement=cell.label_agreement)
            row.passes_gate, row.verdict = gate(row, options)
            rows.append(row)
    rows += [Row(c.key, None, c.precision, "-", None, None, verdict=c.problem) for c in candidates if c.problem]
    return rows


def gate(row: Row, options: OptimizeOptions) -> tuple[bool, str]:
    """(passes, why not): the comparator's AUC delta and label agreement against FP32 under ONNX Runtime."""
    if row.auc_delta is None:
        return False, "no AUC delta vs FP32 ONNX Runtime (no reference, or no label with enough positives)"
    if -row.auc_delta > options.auc_tolerance:
        return False, f"mean AUC drops {-row.auc_delta:.4f} > tolerance {options.auc_tolerance:g}"
    if row.label_agreement is not None and row.label_agreement < options.min_agreement:
        return False, f"label agreement {row.label_agreement:.3f} < {options.min_agreement:g}"
    return True, ""


def eligible_batch(row: Row, options: OptimizeOptions) -> bool:
    """Latency is judged at the smallest batch; throughput at any."""
    return row.batch is not None and (options.objective == "throughput" or row.batch == min(options.batch_sizes))


def mark_pareto(rows: list[Row], options: OptimizeOptions) -> None:
    """Front of (p50 ms/image, AUC drop) among measured rows of the objective: nothing else is at least as fast
    and at least as accurate, and better in one."""
    points = [r for r in rows if eligible_batch(r, options) and r.p50_ms is not None and r.auc_delta is not None]
    for r in points:
        r.on_front = not any(o is not r and o.p50_ms <= r.p50_ms and -o.auc_delta <= -r.auc_delta
                             and (o.p50_ms < r.p50_ms or -o.auc_delta < -r.auc_delta) for o in points)


def choose(rows: list[Row], options: OptimizeOptions) -> Row | None:
    """The fastest row (p50 ms/image) that passes the gate; every other row says why it lost."""
    passing = [r for r in rows if r.passes_gate and eligible_batch(r, options)]
    winner = min(passing, key=lambda r: r.p50_ms) if passing else None
    for r in rows:
        if r is winner:
            r.verdict = "winner"
        elif r.passes_gate and not eligible_batch(r, options):
            r.verdict = f"not judged: the {options.objective} objective uses batch {min(options.batch_sizes)}"
        elif r.passes_gate and winner is not None:
            r.verdict = (f"{r.p50_ms / winner.p50_ms:.2f}x slower than the winner ({r.p50_ms:.2f} vs "
                         f"{winner.p50_ms:.2f} ms/image)")
    return winner


def recommendation_of(winner: Row, options: OptimizeOptions, machine: dict[str, Any], report: str) -> Recommendation:
    keep = {k: machine.get(k) for k in ("hostname", "cpu", "logical_cpus", "measured_at")}
    return Recommendation(version=winner.version, backend=winner.backend, precision=winner.precision,
                          threads=winner.threads, batch=winner.batch, objective=options.objective,
                          ms_per_image=winner.p50_ms, speedup_vs_fp32_ort=winner.speedup_vs_fp32_ort,
                          auc_delta=winner.auc_delta, auc_tolerance=options.auc_tolerance, machine=keep,
                          report=report)


def run_optimize(model: Path, options: OptimizeOptions = OptimizeOptions(), report: str = "",
                 notify: Callable[[str], None] = lambda _: None,
                 on_step: Callable[[str], None] | None = None) -> OptimizeResult:
    """Build the candidates, measure every cell, gate, choose, and record the winner in the repository.
    `on_step` hears one step per candidate built and per (cell, batch) timed."""
    start = time.perf_counter()
    options = options.validate()
    source = resolve_source(model, options)
    candidates = []
    cells_per_candidate = len(options.backends) * len(options.threads) * len(options.batch_sizes)
    for c in wanted_candidates(options):
        built = build_candidate(c, source, options, notify)
        candidates.append(built)
        if on_step:   # a candidate that was not built still completes its share of the progress bar
            for step in [f"built {c.key}"] + [f"{c.key}: not built"] * (cells_per_candidate if built.problem else 0):
                on_step(step)
    model_dir = source.repo / source.name
    reference = next(c for c in candidates if c.key == "fp32")
    if reference.problem:
        raise GxrError(f"{source.checkpoint}: the FP32 reference could not be built: {reference.problem}")
    monitor = NoiseMonitor(options.noise_rule)
    cells, timings = measure_cells(cell_specs(candidates, model_dir, options), list(options.batch_sizes),
                                   options.warmup, options.iters, CellScores(options.data, options.auc_limit),
                                   monitor, on_step)
    rows = rows_of(cells, timings, candidates, options, model_dir)
    mark_pareto(rows, options)
    winner = choose(rows, options)
    machine = machine_with_backends()
    rec = recommendation_of(winner, options, machine, report) if winner else None
    if rec is not None:
        write_recommendation(model_dir, rec)
    return OptimizeResult(source.name, str(source.repo), str(source.checkpoint), options, candidates, rows, winner,
                          rec, machine, monitor.to_json(), monitor.warnings(timings), timings,
                          time.perf_counter() - start)


def steps_total(options: OptimizeOptions) -> int:
    """Progress steps: one per candidate built, one per (cell, batch)."""
    n = len(wanted_candidates(options))
    return n + n * len(options.backends) * len(options.threads) * len(options.batch_sizes)
