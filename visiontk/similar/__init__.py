"""Image similarity: search a library of photos by example, and find the copies of the same photo.

    from visiontk import similar

    report = similar.index(["photos/"], "photos.vtkidx")     # incremental: only new or changed files
    library = similar.load_index("photos.vtkidx")
    for hit in similar.search(library, ["query.jpg"], k=5)[0].hits:
        print(hit.path, hit.similarity)
    for group in similar.duplicates(library):                # copies: resized, re-saved, cropped, rotated...
        print("keep", group.keep, "copies", group.set_aside())
    similar.merge(["part0.vtkidx", "part1.vtkidx"], "photos.vtkidx")

Each image is described by a pretrained network's last convolutional block (VGG16 by default), pooled
with GeM into one unit vector (visiontk.backbones.descriptors), and hashed with pHash under its eight
rotations and flips (similar.hashing); duplicates close in descriptor but not unmistakably so are
confirmed by matching local features (similar.verify). Search is exact in NumPy, or faiss for large libraries
(similar.engine). To search by person rather than by picture, use `visiontk.face` galleries.
"""
from visiontk.similar.describe import Describer
from visiontk.similar.engine import ENGINES, NearestNeighbours
from visiontk.similar.duplicates import (DEFAULT_HASH_DISTANCE, DEFAULT_THRESHOLD, DEFAULT_VERIFY_FROM,
                                         DuplicateGroup, Pair, duplicate_pairs, duplicates, set_aside)
from visiontk.similar.hashing import perceptual_hashes
from visiontk.similar.indexing import IndexReport, index
from visiontk.similar.library import HASHES_ONLY, Index, Settings, check_index_path, load_index, merge
from visiontk.similar.search import Hit, QueryResult, search
from visiontk.similar.sheet import results_sheet
from visiontk.similar.verify import DEFAULT_MIN_INLIERS

__all__ = ["DEFAULT_HASH_DISTANCE", "DEFAULT_MIN_INLIERS", "DEFAULT_THRESHOLD", "DEFAULT_VERIFY_FROM", "Describer",
           "DuplicateGroup", "ENGINES", "HASHES_ONLY", "Hit", "Index", "IndexReport", "NearestNeighbours", "Pair",
           "QueryResult", "Settings", "check_index_path", "duplicate_pairs", "duplicates", "index", "load_index",
           "merge", "perceptual_hashes", "results_sheet", "search", "set_aside"]
