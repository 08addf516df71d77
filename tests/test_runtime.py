"""`gxr.load(...).predict(...)` and `gxr predict`: same numbers from paths, PIL images and arrays; no torch
for ONNX models; clear errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.helpers import REPO, expect_cli_error, run_gxr


def _test_pngs(spec: str, folder, count: int = 3):
    from gxr.data import open_source

    split = open_source(spec).split("test")
    paths = []
    for i in range(count):
        path = folder / f"x{i}.png"
        split.images.open(i).save(path)
        paths.append(path)
    return paths


def test_predict_same_for_path_pil_numpy_and_cli(tmp_path, exported, pneumonia_spec):
    import gxr

    paths = _test_pngs(pneumonia_spec, tmp_path)
    model = gxr.load(exported["gray"])
    from_paths = model.predict([str(p) for p in paths])
    from_pil = model.predict([Image.open(p) for p in paths])
    from_numpy = model.predict([np.asarray(Image.open(p)) for p in paths])
    np.testing.assert_array_equal(from_paths, from_pil)
    np.testing.assert_array_equal(from_paths, from_numpy)
    cli = run_gxr("predict", str(exported["gray"]), *map(str, paths), "--json")
    assert cli.returncode == 0, cli.stderr
    rows = json.loads(cli.stdout)
    np.testing.assert_allclose([[r["probabilities"]["pneumonia"]] for r in rows], from_paths, rtol=1e-6)
    # an RGB numpy array of another size goes through the same Luma + resize path
    rgb = np.repeat(np.asarray(Image.open(paths[0]).resize((50, 50)))[:, :, None], 3, axis=2)
    assert model.predict(rgb).shape == (1, 1)


def test_onnx_model_predicts_without_importing_torch(exported, tmp_path, pneumonia_spec):
    path = _test_pngs(pneumonia_spec, tmp_path, 1)[0]
    code = (f"import sys, gxr\nm = gxr.load({str(exported['color'])!r})\np = m.predict([{str(path)!r}])\n"
            "assert p.shape == (1, 1)\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_torch_and_onnx_backends_agree(exported, trained_runs, tmp_path, pneumonia_spec):
    import gxr

    paths = [str(p) for p in _test_pngs(pneumonia_spec, tmp_path, 4)]
    onnx_probs = gxr.load(exported["gray"]).predict(paths)
    torch_probs = gxr.load(trained_runs["gray"]).predict(paths)
    np.testing.assert_allclose(onnx_probs, torch_probs, rtol=1e-4, atol=1e-6)


def test_bad_models_and_images_are_one_line_errors(tmp_path, exported, pneumonia_spec):
    good = _test_pngs(pneumonia_spec, tmp_path, 1)[0]
    repo = exported["gray"].parent.parent
    expect_cli_error("predict", str(exported["gray"]), str(tmp_path / "missing.png"), names=tmp_path / "missing.png",
                     needles=["image file not found"], watch=[tmp_path, repo])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    expect_cli_error("predict", str(exported["gray"]), str(corrupt), names=corrupt, needles=["cannot decode image"],
                     watch=[tmp_path, repo])
    # a non-ONNX file behind a copied manifest
    fake = tmp_path / "fake" / "1"
    fake.mkdir(parents=True)
    (fake / "model.onnx").write_bytes(b"this is not onnx")
    manifest = json.loads((exported["gray"] / "manifest.json").read_text())
    from gxr.core.fileio import sha256_file

    manifest["onnx"]["sha256"] = sha256_file(fake / "model.onnx")
    (fake / "manifest.json").write_text(json.dumps(manifest))
    expect_cli_error("predict", str(fake), str(good), names=fake / "model.onnx", needles=["not a loadable ONNX model"],
                     watch=[tmp_path])
    # a manifest that does not match its model
    mismatch = tmp_path / "mismatch" / "1"
    shutil.copytree(exported["gray"], mismatch)
    shutil.copy(exported["color"] / "model.onnx", mismatch / "model.onnx")
    expect_cli_error("predict", str(mismatch), str(good), names=mismatch / "manifest.json",
                     needles=["does not match its model"], watch=[tmp_path])
    expect_cli_error("predict", str(tmp_path / "nomodel"), str(good), names=tmp_path / "nomodel",
                     needles=["model not found"], watch=[tmp_path])
    plain = tmp_path / "plain"
    plain.mkdir()
    expect_cli_error("predict", str(plain), str(good), names=plain, needles=["no manifest.json here"], watch=[tmp_path])
