"""DCGAN: training, generation, latent interpolation and scoring (Inception Score, FID).

    from visiontk import gan
    gan.train(["/usr/share/datasets/fashion-mnist"], "runs/fmnist", gan.TrainConfig(epochs=20, seed=0))
    gan.generate(n=64, grid="samples.png")            # the shipped Fashion-MNIST DCGAN
    gan.score(model="runs/fmnist", n=10000, reference="/usr/share/datasets/fashion-mnist")
    gan.export("runs/fmnist", "my-dcgan.weights.h5")
    gan.load_model("runs/fmnist").model                # a Generator by shipped name, run folder or file
"""
from visiontk.gan.export import export
from visiontk.gan.generate import MAX_IMAGES, MAX_STEPS, generate, interpolate
from visiontk.gan.judge import train_judge
from visiontk.gan.model import Generator, load_model
from visiontk.gan.evaluate import score
from visiontk.gan.training import TrainConfig, train

evaluate = score              # the contract's verb (TASK.evaluate); GAN papers and `gan score` say score
load_generator = load_model   # the name before every task's verb was load_model (see visiontk.compat)

__all__ = ["Generator", "MAX_IMAGES", "MAX_STEPS", "TrainConfig", "evaluate", "export", "generate", "interpolate",
           "load_generator", "load_model", "score", "train", "train_judge"]
