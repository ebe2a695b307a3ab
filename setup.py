"""Metadata lives in pyproject.toml. This file only adds the shipped weights in the top-level models/
folder as the package visiontk._models, which automatic package discovery can't express."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["visiontk", "visiontk.*"]) + ["visiontk._models"])
