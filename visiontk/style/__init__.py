"""Neural style transfer.

    from visiontk import style
    image = style.stylize("photo.jpg", "starry_night.jpg")          # Gatys et al.: optimise the pixels
    painter = style.FastStylizer("starry-night")                      # a trained network (Johnson et al.)
    image = painter("photo.jpg", strength=0.7)                        # less paint
    tile = style.synthesize("bricks.jpg", 512, tileable=True).image    # a texture (Gatys et al. 2015)
    style.train(["photos/"], "runs/mine", style.TrainConfig(style="painting.jpg"))
    style.export("runs/mine", "mine.weights.h5")
    style.evaluate("mine.weights.h5", "painting.jpg", ["held-out.jpg"], sizes=[512])  # against Gatys-50
    style.paint_file(painter, "clip.mp4", "painted.mp4")               # a photo or a clip, file to file

`Stylizer` prepares Gatys' style targets once for a batch of photos; coarse-to-fine L-BFGS, style
mixing and colour preservation are options of both. `load_model` gives a trained network as Keras.
"""
from visiontk.style.evaluate import evaluate
from visiontk.style.export import export
from visiontk.style.files import paint_file, stylize_file
from visiontk.style.model import FastStylizer, load_model
from visiontk.style.training import TrainConfig, train
from visiontk.style.texture import gram_distance, synthesize
from visiontk.style.transfer import ScaleReport, StyleResult, Stylizer, stylize

__all__ = ["FastStylizer", "ScaleReport", "StyleResult", "Stylizer", "TrainConfig", "evaluate", "export", "gram_distance",
           "load_model", "paint_file", "stylize", "stylize_file", "synthesize", "train"]
