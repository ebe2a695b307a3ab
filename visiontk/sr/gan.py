"""SRGAN-style fine-tuning of a trained sr generator (Ledig et al. 2017; ESRGAN's relativistic average
discriminator, Wang et al. 2018, as an option): the generator learns to fool a discriminator of HR patches
while a VGG feature loss keeps it close to the ground truth's content.

Generator loss = content + adversarial_weight * adversarial + pixel_weight * L1, with
- content ("srgan", the default): the mean squared difference of VGG16 features (`content_layer`, after
  its ReLU; the ImageNet weights of the registry, caffe preprocessing) of SR and HR, both divided by 12.75
  as in SRGAN (which brings the features' squared differences to the scale of the pixel MSE it replaced);
  or ("unit") LPIPS's normalisation over several layers, UNIT_CONTENT_LAYERS: at each position the feature
  vectors scaled to unit length over the channels, their squared difference summed over the channels,
  averaged over positions and layers. Its layers are the first convolution of each block, not the ones
  `sr eval --metrics perceptual` measures (visiontk.sr.metrics.PERCEPTUAL_LAYERS), so that the measure
  still judges something the loss did not see;
- adversarial: binary cross-entropy of the discriminator's logits ("standard": -log D(SR); "relativistic":
  ESRGAN's symmetric form on D(x) - mean D(other side));
- L1: mean absolute pixel error on the [0, 1] scale (ESRGAN keeps 0.01 of it; 0 is SRGAN).
"""
from __future__ import annotations

from typing import Any

GAN_LOSSES = ("standard", "relativistic")
CONTENT_LOSSES = ("srgan", "unit")
VGG_SCALE = 12.75
UNIT_CONTENT_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def discriminator_and_optimizer(config) -> tuple[Any, Any]:
    """SRGAN's discriminator for the run's HR patches, and its Adam optimizer (built)."""
    import keras

    from visiontk.backbones.discriminator import SRGANDiscriminator

    discriminator = SRGANDiscriminator(config.patch * config.scale, config.discriminator_features)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, config.halve_every, 0.5, staircase=True))
    optimizer.build(discriminator.trainable_variables)
    return discriminator, optimizer


def content_layers(config) -> tuple[str, ...]:
    return UNIT_CONTENT_LAYERS if config.content_loss == "unit" else (config.content_layer,)


def content_extractor(config):
    from visiontk.backbones.vgg import vgg_extractor

    return vgg_extractor("vgg16", content_layers(config))


def content_losses(tf, features: dict, config):
    """Per-example content loss of a batch whose first half is SR and second half HR."""
    def halves(layer):
        return tf.split(tf.cast(features[layer], tf.float32), 2, axis=0)

    if config.content_loss == "unit":
        distances = []
        for layer in UNIT_CONTENT_LAYERS:
            sr, hr = (f * tf.math.rsqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True) + 1e-10)
                      for f in halves(layer))
            distances.append(tf.reduce_mean(tf.reduce_sum(tf.square(sr - hr), axis=-1), axis=[1, 2]))
        return tf.add_n(distances) / len(distances)
    sr, hr = halves(config.content_layer)
    return tf.reduce_mean(tf.square((sr - hr) / VGG_SCALE), axis=[1, 2, 3])


def adversarial_losses(tf, real, fake, kind: str):
    """Per-example (generator, discriminator) losses from the discriminator's logits on real HR and SR."""
    bce = tf.nn.sigmoid_cross_entropy_with_logits
    ones, zeros = tf.ones_like(real), tf.zeros_like(real)
    if kind == "relativistic":
        real_vs_fake = real - tf.reduce_mean(fake)
        fake_vs_real = fake - tf.reduce_mean(real)
        generator = bce(labels=zeros, logits=real_vs_fake) + bce(labels=ones, logits=fake_vs_real)
        discriminator = bce(labels=ones, logits=real_vs_fake) + bce(labels=zeros, logits=fake_vs_real)
    else:
        generator = bce(labels=ones, logits=fake)
        discriminator = bce(labels=ones, logits=real) + bce(labels=zeros, logits=fake)
    return tf.reduce_mean(generator, axis=-1), tf.reduce_mean(discriminator, axis=-1)


def make_gan_step(tf, strategy, model, optimizer, discriminator, discriminator_optimizer, features, config):
    """The compiled training step: one update of the generator and one of the discriminator on the same
    batch; returns the batch's losses (summed over replicas, each divided by the global batch)."""
    global_batch = config.batch_size

    def replica_step(lr, hr):
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = model(lr, training=True)
            real = tf.cast(discriminator(hr, training=True), tf.float32)
            fake = tf.cast(discriminator(sr, training=True), tf.float32)
            content = content_losses(tf, features(tf.concat([sr, hr], axis=0), training=False), config)
            pixel = tf.reduce_mean(tf.abs(sr - hr), axis=[1, 2, 3]) / 255.0
            adversarial, d_loss = adversarial_losses(tf, real, fake, config.gan_loss)
            g_loss = content + config.adversarial_weight * adversarial + config.pixel_weight * pixel
            losses = {name: tf.reduce_sum(value) / global_batch for name, value in (
                ("loss", g_loss), ("content_loss", content), ("adversarial_loss", adversarial),
                ("d_loss", d_loss))}
        g_grads = g_tape.gradient(losses["loss"], model.trainable_variables)
        d_grads = d_tape.gradient(losses["d_loss"], discriminator.trainable_variables)
        optimizer.apply_gradients(zip(g_grads, model.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        return losses

    @tf.function
    def step(lr_hr):
        per_replica = strategy.run(replica_step, args=lr_hr)
        return {name: strategy.reduce("SUM", value, axis=None) for name, value in per_replica.items()}

    return step
