"""`visiontk models export`: each format round-trips, served on uint8 images, matching Keras."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def tiny_edsr(tmp_path_factory) -> Path:
    """A random-weight EDSR x2 (2 blocks x 8 features): the export mechanics, quickly."""
    import keras

    from visiontk.backbones.edsr import EDSR

    path = tmp_path_factory.mktemp("tiny") / "tiny_x2.weights.h5"
    keras.utils.set_random_seed(5)
    EDSR(2, blocks=2, features=8).save_weights(path)
    return path


@pytest.fixture(scope="module")
def butterfly(shared) -> np.ndarray:
    """A real photo, cropped small: (1, 40, 48, 3) uint8."""
    rgb = np.asarray(Image.open(shared / "data" / "sr" / "Set5" / "butterfly.png").convert("RGB"))
    return rgb[100:140, 90:138][None]


def keras_upscale(weights: Path, images: np.ndarray) -> np.ndarray:
    """What `sr upscale` computes, written out independently of the exporter."""
    from visiontk.sr.edsr_files import load_edsr, structure

    model = load_edsr(weights, structure(weights)[0])
    out = model(images.astype(np.float32), training=False).numpy()
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_savedmodel_serves_uint8_images(run_cli, tiny_edsr, butterfly, tmp_path):
    import tensorflow as tf

    out = tmp_path / "serving" / "1"
    result = run_cli("models", "export", tiny_edsr, "--format", "savedmodel", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["ok"] and record["input"] == str(tiny_edsr) and record["checked"]
    assert record["scale"] == 2 and record["input_dtype"] == "uint8" and record["bytes"] > 1000

    signature = tf.saved_model.load(str(out)).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    served = signature(tf.constant(butterfly))["output_images"].numpy()
    assert served.dtype == np.uint8 and served.shape == (1, 80, 96, 3)
    assert levels(served, keras_upscale(tiny_edsr, butterfly)) <= 1
    # Any size goes through the same signature.
    assert signature(tf.constant(butterfly[:, :17, :23]))["output_images"].shape == (1, 34, 46, 3)


def test_existing_output_and_bad_option_pairs_are_refused_before_work(run_cli, tiny_edsr, tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"keep me")
    result = run_cli("models", "export", tiny_edsr, "--format", "tflite", "-o", target)
    assert result.exit_code == 3 and target.read_bytes() == b"keep me"
    result = run_cli("models", "export", tiny_edsr, "--format", "savedmodel", "--quantize", "float16",
                     "-o", tmp_path / "sm")
    assert result.exit_code == 2 and "TFLite" in result.output and not (tmp_path / "sm").exists()
    result = run_cli("models", "export", tmp_path / "model.tflite", "--format", "onnx", "-o", tmp_path / "x")
    assert result.exit_code == 3 and "not a network" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("quantize, tolerance", [("none", 1), ("float16", 2)])
def test_tflite_edsr_matches_keras_on_a_real_image(run_cli, shared, butterfly, tmp_path, quantize, tolerance):
    from visiontk.serving import runner
    from visiontk.weights import resolve

    out = tmp_path / "edsr.tflite"
    result = run_cli("models", "export", "edsr-x2", "--format", "tflite", "--quantize", quantize, "-o", out,
                     "--json")
    assert result.exit_code == 0, result.output
    served = runner(out, "tflite")(butterfly)
    assert served.dtype == np.uint8 and served.shape == (1, 80, 96, 3)
    assert levels(served, keras_upscale(resolve("edsr-x2"), butterfly)) <= tolerance
    size = out.stat().st_size
    weights = resolve("edsr-x2").stat().st_size
    assert size < weights * (1.1 if quantize == "none" else 0.6)   # float16 halves the file


@pytest.mark.slow
def test_face_embedder_tflite_and_savedmodel_keep_the_embedding(shared, tmp_path):
    from visiontk import serving
    from visiontk.face import detect_faces, load_image, load_model
    from visiontk.face.align import align

    image = load_image(shared / "data" / "faces" / "obama_1.jpg")
    chip = np.clip(np.round(align(image, detect_faces(image)[0].landmarks)), 0, 255).astype(np.uint8)[None]
    expected = load_model().embed_chips(chip.astype(np.float32))
    exportable = serving.resolve("dlib-face-resnet")
    for fmt, path in (("tflite", tmp_path / "face.tflite"), ("savedmodel", tmp_path / "face")):
        serving.export(exportable, path, fmt)
        got = serving.runner(path, fmt)(chip)
        cosine = float(np.sum(got * expected) / (np.linalg.norm(got) * np.linalg.norm(expected)))
        assert got.shape == (1, 128) and cosine >= 0.999, (fmt, cosine)


@pytest.mark.slow
def test_dcgan_generator_exports_to_onnx_and_tflite(tmp_path):
    pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from visiontk import serving
    from visiontk.gan import load_model
    from visiontk.gan.generate import latents

    z = latents(3, 100, seed=7)
    expected = load_model().images(z)                    # what `gan generate` writes
    exportable = serving.resolve("dcgan-fashion-mnist")
    serving.export(exportable, tmp_path / "g.onnx", "onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: z})
    assert got.dtype == np.uint8 and got.shape == expected.shape == (3, 28, 28, 1)
    assert levels(got, expected) <= 1
    serving.export(exportable, tmp_path / "g.tflite", "tflite")
    assert levels(serving.runner(tmp_path / "g.tflite", "tflite")(z), expected) <= 1


def test_style_network_is_one_registration_away(run_cli, butterfly, tmp_path):
    """A `stylize export` weights file exports like the rest: uint8 in and out, same as Keras."""
    import keras

    from visiontk.backbones.transformer import StyleTransformer
    from visiontk.serving import runner

    weights = tmp_path / "mystyle.weights.h5"
    keras.utils.set_random_seed(2)
    network = StyleTransformer(8, 1)
    network.save_weights(weights)
    out = tmp_path / "style"
    result = run_cli("models", "export", weights, "--format", "savedmodel", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input_multiple"] == 4
    photo = butterfly[:, :40, :44]
    expected = np.clip(np.round(network(photo.astype(np.float32)).numpy()), 0, 255).astype(np.uint8)
    assert levels(runner(out, "savedmodel")(photo), expected) <= 1
    # Its TFLite file needs TensorFlow's own kernels for some convolutions (Select TF ops): said, and
    # not checked here, where the interpreter has no Flex delegate.
    result = run_cli("models", "export", weights, "--format", "tflite", "-o", tmp_path / "s.tflite", "--json")
    record = json.loads(result.stdout)
    assert result.exit_code == 0 and record["tflite_select_tf_ops"] and not record["checked"]


def test_mtcnn_stages_export_with_every_output(shared, tmp_path):
    """O-Net (boxes, landmarks, face probability) and P-Net (any size) served on uint8 crops give what
    the detector's own networks give on its normalised input."""
    from visiontk import serving
    from visiontk.face.detect import _networks

    rgb = np.asarray(Image.open(shared / "data" / "faces" / "obama_1.jpg").convert("RGB"))
    crop = np.asarray(Image.fromarray(rgb).resize((48, 48)))[None]
    pnet, _, onet = _networks()
    for name, network, pixels, fmt in (("mtcnn-onet", onet, crop, "tflite"),
                                       ("mtcnn-pnet", pnet, rgb[None, :60, :70], "savedmodel")):
        path = tmp_path / name
        record = serving.export(serving.resolve(name), path, fmt)
        assert record["checked"] and record["output_kind"] == "tensors"
        got = serving.runner(path, fmt)(pixels)
        expected = network((pixels.astype(np.float32) - 127.5) / 128)
        assert set(got) == set(record["output_names"]) and len(got) == len(expected)
        for name, reference in zip(record["output_names"], expected):   # the network's order
            assert np.abs(got[name] - np.asarray(reference)).max() < 1e-3, name


def test_serving_modules_are_named_and_the_package_keeps_its_names():
    """visiontk.serving is split by what each module holds; `from visiontk.serving import ...` is unchanged."""
    import ast
    import importlib

    from visiontk import serving

    folder = Path(serving.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert modules == ["check", "formats", "onnx", "registry", "savedmodel", "signature", "tflite"]
    for name in modules:
        docstring = ast.get_docstring(ast.parse((folder / f"{name}.py").read_text()))
        assert docstring and "\n" not in docstring, f"serving/{name}.py: a one-line docstring"
    public = ("Deployable", "Exportable", "check_image", "check_options", "compare", "deployables", "export",
              "keras_outputs", "latency", "register", "resolve", "runner", "serving_function",
              "weights_file_claims", "FORMATS", "QUANTIZE", "ONNX_MISSING")
    assert set(public) <= set(serving.__all__)
    homes = {name: getattr(importlib.import_module(f"visiontk.serving.{m}"), name)
             for m in modules for name in public if hasattr(importlib.import_module(f"visiontk.serving.{m}"), name)}
    assert all(getattr(serving, name) is homes[name] for name in public)   # one object, re-exported
    assert serving.FORMATS == ("savedmodel", "tflite", "onnx") and serving.QUANTIZE == ("none", "float16", "dynamic")
