"""Weights shipped with visiontk, each beside its model card; installed as the package visiontk._models."""
