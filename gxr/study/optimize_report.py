"""What `gxr optimize` writes: optimize.json (every cell), report.md (the winner, why the others lost) and
pareto.png (speed vs AUC delta, the front and the tolerance)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from gxr.core.fileio import write_json, write_text
from gxr.core.render import fmt, md_table
from gxr.study.optimize import OptimizeResult, Row

HEADER = ("candidate", "version", "backend", "threads", "batch", "runs as", "p50 ms/img", "p90 ms/img",
          "speed-up vs FP32 ORT", "mean test AUC", "AUC delta", "label agreement", "front", "verdict")


def _cells(r: Row) -> list[str]:
    speed = f"{r.speedup_vs_fp32_ort:.2f}x" if r.speedup_vs_fp32_ort else "n/a"
    return [r.candidate, str(r.version or "-"), r.backend, str(r.threads or "default"), str(r.batch or "-"),
            r.provider or "-", fmt(r.p50_ms, 2), fmt(r.p90_ms, 2), speed, fmt(r.mean_auc), fmt(r.auc_delta, sign=True),
            fmt(r.label_agreement, 3), "*" if r.on_front else "", r.verdict]


def ordered(rows: list[Row]) -> list[Row]:
    """Measured rows fastest first, then the ones that failed."""
    return sorted(rows, key=lambda r: (r.p50_ms is None, r.p50_ms or 0.0))


def rows_table(result: OptimizeResult) -> Table:
    o = result.options
    table = Table(title=f"gxr optimize {result.name}: objective {o.objective}, gate: mean AUC drop <= "
                        f"{o.auc_tolerance:g} and label agreement >= {o.min_agreement:g} vs FP32 ONNX Runtime")
    for col in HEADER:
        table.add_column(col, justify="right" if col[0].isdigit() or col in ("version", "threads", "batch")
                         or "ms" in col or "AUC" in col or col in ("speed-up vs FP32 ORT", "label agreement")
                         else "left")
    for r in ordered(result.rows):
        style = "bold green" if r.verdict == "winner" else ("red" if r.p50_ms is None else None)
        table.add_row(*_cells(r), style=style)
    return table


def report_markdown(result: OptimizeResult, json_name: str = "optimize.json", png_name: str = "pareto.png") -> str:
    o, w, m = result.options, result.winner, result.machine
    lines = [f"# gxr optimize: {result.name}", "",
             f"Source checkpoint `{result.checkpoint}`; repository `{result.repo}`. Machine: {m.get('cpu')} "
             f"({m.get('logical_cpus')} logical CPUs), measured {m.get('measured_at')}; {result.seconds / 60:.1f} "
             "min in all.", "",
             f"**Objective**: {o.objective} (p50 ms/image at "
             f"{'the smallest batch' if o.objective == 'latency' else 'any batch size tried'}). **Gate** (the "
             f"task's own metric, from the comparator, on up to {o.auc_limit} real test images): mean test AUC at "
             f"most {o.auc_tolerance:g} below FP32 under ONNX Runtime, and at least {o.min_agreement:.0%} of the "
             "test decisions unchanged. Timings: each cell in its own block of consecutive runs "
             f"({o.warmup} warm-up, {o.iters} timed), compute only (uint8 batches already in memory).", ""]
    if w is not None:
        lines += [f"**Winner**: {w.candidate} (version {w.version}, {w.precision}) under {w.backend}, "
                  f"{w.threads or 'default'} threads, batch {w.batch}: {w.p50_ms:.2f} ms/image p50, "
                  f"{fmt(w.speedup_vs_fp32_ort, 2)}x vs FP32 ONNX Runtime at the same batch, mean test AUC "
                  f"{fmt(w.mean_auc)} ({fmt(w.auc_delta, sign=True)}), label agreement {fmt(w.label_agreement, 3)}. "
                  f"Recorded in `{result.repo}/{result.name}/recommended.json`: `gxr.load(\"{result.repo}/"
                  f"{result.name}\")` and `gxr predict` use it unless given a backend.", ""]
    else:
        lines += ["**No winner**: no configuration passed the gate; nothing was recommended.", ""]
    lines += ["## Every configuration (fastest first; * = on the Pareto front of speed vs AUC drop)", "",
              md_table(HEADER, [_cells(r) for r in ordered(result.rows)]), ""]
    built = [f"- {c.key}: " + (f"failed: {c.problem}" if c.problem else
                               f"version {c.version} ({'reused' if c.reused else f'exported in {c.seconds:.0f} s'})")
             for c in result.candidates]
    lines += ["## Candidates", "", *built, ""]
    if result.warnings:
        lines += ["## Timing noise (the one noise rule)", "", *[f"- {w_}" for w_ in result.warnings], ""]
    lines += [f"Every number: `{json_name}`; the front: `{png_name}`.", ""]
    return "\n".join(lines)


def pareto_figure(result: OptimizeResult, out: Path) -> Path:
    """ms/image (log x) vs mean AUC delta: every measured row of the objective, the front joined, the tolerance
    shaded, the winner starred."""
    from gxr.core.lazy import pyplot, save_png
    from gxr.study.optimize import eligible_batch

    plt = pyplot("the Pareto plot")
    o = result.options
    rows = [r for r in result.rows if eligible_batch(r, o) and r.p50_ms is not None and r.auc_delta is not None]
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    low = min([r.auc_delta for r in rows] + [-o.auc_tolerance]) - 0.002
    ax.axhspan(low, -o.auc_tolerance, color="#f4cccc", alpha=0.6, label=f"AUC drop > {o.auc_tolerance:g} (fails)")
    ax.axhline(0.0, color="#999999", lw=0.8, ls=":")
    markers = {"fp32": "o", "fp16": "s", "int8": "^"}
    colors = {"onnxruntime": "#1f4e9c", "openvino": "#2e8b57", "openvino:bf16": "#d1495b"}
    for r in rows:   # filled: passes the gate; hollow: fails it (AUC drop or label agreement)
        color = colors.get(r.backend, "#444444")
        ax.scatter(r.p50_ms, r.auc_delta, marker=markers.get(r.precision, "x"), s=48 if r.on_front else 30,
                   facecolors=color if r.passes_gate else "none", edgecolors=color, linewidths=1.1, alpha=0.9)
        if r.on_front or r is result.winner:   # label only what a reader must find; every row is in report.md
            ax.annotate(f"{r.candidate} {r.backend}\n{r.threads or 'default'} threads, batch {r.batch}",
                        (r.p50_ms, r.auc_delta), fontsize=7, xytext=(5, 5), textcoords="offset points",
                        color="#222222")
    front = sorted((r for r in rows if r.on_front), key=lambda r: r.p50_ms)
    if front:
        ax.plot([r.p50_ms for r in front], [r.auc_delta for r in front], color="black", lw=0.9, ls="--",
                label="Pareto front")
    if result.winner is not None:
        ax.scatter(result.winner.p50_ms, result.winner.auc_delta, marker="*", s=260, facecolors="none",
                   edgecolors="#e69f00", linewidths=1.8, label=f"winner: {result.winner.label}")
    for precision, marker in markers.items():
        ax.scatter([], [], marker=marker, color="#777777", label=precision)
    for backend, color in colors.items():
        ax.scatter([], [], marker="o", color=color, label=backend)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="#777777", label="hollow: fails the gate")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(FixedLocator([2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(low, max([r.auc_delta for r in rows] + [0.0]) + 0.002)
    ax.set_xlabel("p50 ms/image (log scale; lower is faster)")
    ax.set_ylabel("mean test AUC minus FP32 ONNX Runtime")
    ax.set_title(f"gxr optimize {result.name}: {o.objective}, {result.machine.get('logical_cpus')} CPUs "
                 f"({result.machine.get('cpu')})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.grid(alpha=0.25, which="both")
    return save_png(fig, out)


def write_report(result: OptimizeResult, out_dir: Path, plot: bool = True) -> list[Path]:
    """optimize.json + report.md (+ pareto.png when matplotlib is installed and `plot`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "optimize.json", out_dir / "report.md"]
    write_json(written[0], result.to_json())
    write_text(written[1], report_markdown(result))
    if plot:
        from gxr.core.lazy import available

        if available("matplotlib"):
            written.append(pareto_figure(result, out_dir / "pareto.png"))
    return written
