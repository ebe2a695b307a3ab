"""DCGAN: training, generation, latent interpolation and scoring (Inception Score, FID).

    from visiontk import gan
    gan.train("/usr/share/datasets/fashion-mnist", "runs/fmnist", epochs=20)
    gan.generate(n=64, grid="samples.png")            # the shipped Fashion-MNIST DCGAN
    gan.score(model="runs/fmnist", n=10000, reference="/usr/share/datasets/fashion-mnist")
"""
from visiontk.gan.generate import export, generate, interpolate, load_generator
from visiontk.gan.score import score
from visiontk.gan.training import train

__all__ = ["export", "generate", "interpolate", "load_generator", "score", "train"]
