"""Keras network builders shared by the tasks: VGG feature extractors, dlib's face ResNet, EDSR, DCGAN."""
