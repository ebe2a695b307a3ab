"""SRGAN-style fine-tuning (`sr train --gan`): the discriminator, the losses, exact resume, export."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def crops(shared, tmp_path_factory):
    """64x64 crops of three Set5 photos: the VGG passes of validation cost little on them."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("crops")
    for name in ("bird", "butterfly", "woman"):
        with Image.open(shared / "data" / "sr" / "Set5" / f"{name}.png") as image:
            image.convert("RGB").crop((64, 64, 128, 128)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A random tiny WDSR x2 to fine-tune: mechanics only."""
    import keras

    from visiontk.backbones.wdsr import WDSR

    keras.utils.set_random_seed(5)
    path = tmp_path_factory.mktemp("gan") / "tiny-x2.weights.h5"
    WDSR(2, blocks=1, features=8, expansion=2).save_weights(path)
    return path


def test_srgan_discriminator_shape():
    from visiontk.backbones.discriminator import SRGANDiscriminator

    model = SRGANDiscriminator(96)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.strides[0] for c in convs] == [1, 2] * 4
    assert model.get_layer("flatten").output.shape[-1] == 6 * 6 * 512
    assert model(np.zeros((2, 96, 96, 3), np.float32)).shape == (2, 1)


@pytest.mark.parametrize("kind", ["standard", "relativistic"])
def test_adversarial_losses_reward_the_right_side(kind):
    from visiontk.runtime import tensorflow
    from visiontk.sr.gan import adversarial_losses

    tf = tensorflow()
    confident = adversarial_losses(tf, tf.constant([[4.0], [3.0]]), tf.constant([[-4.0], [-3.0]]), kind)
    fooled = adversarial_losses(tf, tf.constant([[-4.0], [-3.0]]), tf.constant([[4.0], [3.0]]), kind)
    assert np.all(confident[1].numpy() < fooled[1].numpy())   # the discriminator's loss: low when it's right
    assert np.all(confident[0].numpy() > fooled[0].numpy())   # the generator's: low when it fools it


def tiny_gan(steps: int, init_from, **settings):
    from visiontk.sr.training import TrainConfig

    tiny = dict(arch="wdsr", scale=2, batch_size=2, patch=8, val_images=1, val_every=2, checkpoint_every=4,
                blocks=1, features=8, expansion=2, gan=True, init_from=str(init_from), discriminator_features=4)
    return TrainConfig(steps=steps, **{**tiny, **settings})


def test_gan_training_resumes_exactly_and_exports(crops, generator, shared_weights, tmp_path, run_cli):
    import os
    import signal

    from visiontk.sr.training import train

    straight = train([crops], tmp_path / "a", tiny_gan(4, generator))

    def preempt(row):
        if row["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        train([crops], tmp_path / "b", tiny_gan(4, generator), on_progress=preempt)
    resumed = train([crops], tmp_path / "b", tiny_gan(4, generator))
    # The weights must match to the byte (below); a logged loss may differ in its last float32 bit, since a
    # CPU reduction's summation order isn't fixed (seen once in CI: d_loss 1.42180705 against 1.42180711).
    assert resumed == pytest.approx({**straight, "seconds": resumed["seconds"]}, rel=1e-6)
    assert {"content_loss", "adversarial_loss", "d_loss", "val_perceptual"} <= set(resumed)
    assert resumed["best_val_perceptual"] <= resumed["val_perceptual"]
    assert (tmp_path / "a" / "best.weights.h5").read_bytes() == (tmp_path / "b" / "best.weights.h5").read_bytes()
    result = run_cli("sr", "export", tmp_path / "b", "-o", tmp_path / "gan-x2.weights.h5", "--json")
    assert result.exit_code == 0, result.stderr
    card = (tmp_path / "gan-x2.md").read_text()
    assert card.startswith("# SRGAN-style WDSR x2") and "relativistic adversarial loss" in card


def test_gan_needs_a_generator_to_fine_tune(crops, tmp_path, run_cli):
    result = run_cli("sr", "train", crops, "--gan", "--out", tmp_path / "run", "--steps", "1")
    assert result.exit_code == 3 and "--init-from" in result.output
    assert not (tmp_path / "run").exists()


def test_unit_content_loss_is_zero_for_the_same_image_and_grows_with_blur(shared_weights):
    """--content-loss unit: LPIPS's normalisation at the first convolution of each VGG16 block."""
    from PIL import Image, ImageFilter

    from visiontk.runtime import tensorflow
    from visiontk.sr import gan
    from visiontk.sr.training import TrainConfig

    tf = tensorflow()
    config = TrainConfig(content_loss="unit")
    assert gan.content_layers(config) == gan.UNIT_CONTENT_LAYERS
    with Image.open(shared_weights.parent / "data" / "sr" / "Set5" / "butterfly.png") as photo:
        sharp = photo.convert("RGB")
    extractor = gan.content_extractor(config)

    def loss(image):
        batch = np.stack([np.asarray(image, np.float32), np.asarray(sharp, np.float32)])
        return float(gan.content_losses(tf, extractor(batch, training=False), config)[0])

    slightly, heavily = (loss(sharp.filter(ImageFilter.GaussianBlur(r))) for r in (1, 3))
    assert loss(sharp) < 1e-6 < slightly < heavily


def test_gan_training_with_the_unit_content_loss_exports_a_card_that_says_so(crops, generator, shared_weights,
                                                                             tmp_path, run_cli):
    from visiontk.sr.training import train

    result = train([crops], tmp_path / "run", tiny_gan(2, generator, content_loss="unit"))
    assert np.isfinite(result["content_loss"]) and result["content_loss"] > 0
    exported = run_cli("sr", "export", tmp_path / "run", "-o", tmp_path / "gan-x2.weights.h5",
                       "--eval-dir", crops)
    assert exported.exit_code == 0, exported.stderr
    card = (tmp_path / "gan-x2.md").read_text()
    assert "unit-feature content loss at VGG16 block1_conv1" in card
    # a GAN's card scores the perceptual distance beside PSNR, and names its losses, not plain L1
    assert "| model perceptual | bicubic perceptual |" in card and "the losses above" in card
