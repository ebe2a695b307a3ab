"""Pretrained weights: the registry of named weight sets and how each is found, fetched and checked."""
from visiontk.weights.registry import (KnownFile, WeightSpec, all_specs, cache_dir, converted, fetch,
                                       get_spec, import_file, load_into, present, register, register_shipped, resolve, search_dirs,
                                       shipped_dir, status)

__all__ = ["KnownFile", "WeightSpec", "all_specs", "cache_dir", "converted", "fetch", "get_spec",
           "import_file", "load_into", "present", "register", "register_shipped", "resolve", "search_dirs", "shipped_dir", "status"]
