"""Keras network builders shared by the tasks: VGG feature extractors, dlib's face ResNet, EDSR, DCGAN,
the feed-forward style network and a small classifier.

Builders are plain functions, as in keras.applications, and take `weights=`: a registry name (see
`visiontk models list`), a .weights.h5 path, or None for freshly initialised weights, e.g.
`EDSR(scale=2, weights="edsr-x2")`.
"""
