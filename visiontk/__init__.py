"""visiontk: the classic neural vision tasks (style transfer, faces, DCGAN, EDSR) from one CLI."""
__version__ = "0.1.0"
