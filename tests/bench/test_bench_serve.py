"""`gxr bench serve`: loopback only, the server's metrics read right, and real short runs against `gxr serve` started
from a repository (HTTP binary tensors with batching on and off, and gRPC with encoded PNG files)."""

from __future__ import annotations

import json

import pytest

from gxr.bench.serve import batch_histogram, check_url, is_loopback, parse_metrics, rss_growth
from gxr.core.errors import GxrError
from tests.helpers import expect_cli_error, run_gxr


def test_only_loopback_addresses_are_targets():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "192.168.1.5", "8.8.8.8", "0.0.0.0"))
    assert check_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    with pytest.raises(GxrError, match="not a loopback address"):
        check_url("http://10.1.2.3:8000")
    with pytest.raises(GxrError, match="expected http://HOST:PORT"):
        check_url("https://127.0.0.1:8000/v2/models")


def test_a_remote_url_is_refused_in_one_line_before_any_request(tmp_path):
    out = tmp_path / "out.json"
    expect_cli_error("bench", "serve", "http://192.0.2.10:8000", "--model", "m", "--json", str(out),
                     names="http://192.0.2.10:8000", needles=["not a loopback address"], watch=[tmp_path])


def test_metrics_are_read_with_prometheus_clients_own_parser():
    """A histogram written by prometheus_client itself: the delta between two scrapes, per bucket, and its mean."""
    from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    hist = Histogram("gxr_batch_size", "images per batch", ["model", "version"], buckets=(1, 2, 4, 8),
                     registry=registry)
    Gauge("process_resident_memory_bytes", "rss", registry=registry).set(3 * 2**20)
    for size in (1, 1, 3):
        hist.labels(model="m", version="1").observe(size)
    hist.labels(model="other", version="1").observe(8)
    before = parse_metrics(generate_latest(registry).decode(), "m")
    for size in (2, 4, 4, 7):
        hist.labels(model="m", version="1").observe(size)
    after = parse_metrics(generate_latest(registry).decode(), "m")
    assert before.rss_mb == 3.0
    counts, mean = batch_histogram(before, after)
    assert counts == {"2.0": 1, "4.0": 2, "8.0": 1}
    assert mean == pytest.approx((2 + 4 + 4 + 7) / 4)


def test_rss_growth_counts_from_the_first_sample_after_1000_requests():
    assert rss_growth([(0, 100.0), (400, 130.0), (1200, 140.0), (6000, 141.5), (10000, 142.0)]) == 2.0
    assert rss_growth([(0, 100.0), (900, 150.0)]) is None


def _run(tmp_path, repo, *args):
    out = tmp_path / "serve.json"
    result = run_gxr("bench", "serve", str(repo), "--model", "gray", "--clients", "4", "--image-count", "16",
                     "--json", str(out), *args)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(out.read_text()), result.stdout


def test_http_load_with_batching_on_and_off_beside_in_process_predict(tmp_path, exported):
    report, stdout = _run(tmp_path, exported["gray"].parent.parent, "--duration", "2", "--warmup", "0.5",
                          "--compare-batching", "--inprocess-seconds", "0.5", "--batch-sizes", "1,8",
                          "--max-queue-delay-ms", "5")
    on, off = report["runs"]
    assert (on["label"], off["label"]) == ("batching on", "batching off")
    for run in (on, off):
        assert run["errors"] == 0 and run["requests_ok"] > 20, run
        lat = run["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert run["images_per_s"] == pytest.approx(run["requests_ok"] / run["seconds"])
        assert run["rss_mb_before"] > 50 and run["rss_mb_after"] > 50 and run["server_cpu_s"] > 0
        assert run["ratio_to_inprocess_best"] == pytest.approx(run["images_per_s"] /
                                                               report["inprocess_best"]["images_per_s"])
    # every request holds one image: without batching every batch is one image, with it the 4 clients share batches
    assert set(off["batch_histogram"]) == {"1.0"} and off["mean_batch"] == 1.0
    assert off["batch_histogram"]["1.0"] >= off["requests_ok"]
    assert on["mean_batch"] > 1.0 and set(on["batch_histogram"]) - {"1.0"}
    assert [r["batch"] for r in report["inprocess"]] == [1, 8]
    assert all(r["images_per_s"] > 0 for r in report["inprocess"])
    assert report["machine"]["logical_cpus"] and "--no-batching" in off["server_args"]
    assert "batching on" in stdout and "in-process" in stdout


def test_grpc_load_with_encoded_png_files_and_a_token(tmp_path, exported):
    """The server requires a bearer token: metadata, metrics and every gRPC request carry it."""
    token = tmp_path / "token"
    token.write_text("a-test-token-of-enough-length\n")
    report, _ = _run(tmp_path, exported["gray"].parent.parent, "--protocol", "grpc", "--input", "encoded",
                     "--duration", "1", "--warmup", "0", "--inprocess-seconds", "0", "--token-file", str(token))
    (run,) = report["runs"]
    assert run["protocol"] == "grpc" and run["input"] == "encoded"
    assert run["errors"] == 0 and run["requests_ok"] > 10 and report["inprocess"] == []
    assert sum(run["batch_histogram"].values()) > 0 and "--token-file" in run["server_args"]
