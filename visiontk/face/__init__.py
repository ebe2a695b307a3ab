"""Face recognition: find faces, align them, embed them, compare them.

    from visiontk import face

    image = face.load_image("group.jpg")
    faces = face.detect_faces(image)                            # boxes, confidences, 5 landmarks
    chip = face.align(image, faces[0].landmarks)                # 150x150 aligned chip
    result = face.verify("obama_1.jpg", "obama_2.jpg")          # .same, .distance, .max_distance
    vectors = face.face_encodings("group.jpg")                  # one 128-D embedding per face
    face.compare_faces(vectors, face.face_encodings("obama_1.jpg")[0])  # one True/False per face

    gallery = face.Gallery.load("people.npz", model="dlib-face-resnet")
    gallery.add("obama", face.embed("obama_1.jpg").embedding)
    gallery.identify(face.embed("unknown.jpg").embedding, max_distance=0.6).name

    clusters = face.cluster_embeddings(vectors)                  # a person id per face (average linkage)
    people = face.cluster_faces(["a.jpg", "b.jpg"])            # .faces, each with .cluster; .enroll(...)
    face.detect_file("group.jpg", draw="faces.png")             # the record `face detect` prints (photo or clip)
    face.identify_file("clip.mp4", gallery, face.load_model())  # the record `face identify` prints
    face.enroll("people.npz", "obama", ["obama_1.jpg", "obama_2.jpg"])   # one person, under the gallery's lock
    face.cluster_photos(["a.jpg", "b.jpg"], sheet="people.png", enroll_into="people.npz")  # `face cluster`
    face.load_model("mine.keras")                               # a FaceModel: .network, .max_distance

Faces are found by MTCNN, aligned by a similarity transform onto dlib's mean face, and embedded by
dlib's face ResNet rebuilt in Keras (same person when the distance is at most 0.6), or by a model
made with `face.train` and `face.export`. Nothing here imports TensorFlow until a network is needed.

Names: `min_confidence` is the detector's cut-off, `max_distance` the same-person embedding distance
(`tolerance` in compare_faces, as in face_recognition); their old name `threshold` still works for one
release, with a DeprecationWarning (see visiontk.compat).
"""
from visiontk.compat import renamed_constants as _renamed_constants
from visiontk.face.align import align
from visiontk.face.cluster import (DEFAULT_CLUSTER_DISTANCE, DEFAULT_MIN_CLUSTER_FACE, FaceClusters,
                                   chinese_whispers, cluster_embeddings, cluster_faces, pairwise_scores)
from visiontk.face.detect import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_FACE, Face, detect_faces
from visiontk.face.embeddings_file import EmbeddingSet
from visiontk.face.evaluate import evaluate_pairs as evaluate
from visiontk.face.export import export
from visiontk.face.files import describe_faces, describe_names, detect_file, drawn_path, identify_file
from visiontk.face.gallery import UNKNOWN, Enrolment, Gallery, Match, enroll, remove_person
from visiontk.face.model import DEFAULT_MAX_DISTANCE, FaceModel, load_model
from visiontk.face.photo import (Clustering, cluster_photos, describe_groups, detect_photo, embed_photo,
                                 identify_photo)
from visiontk.face.recognize import (FaceEmbedding, PairsSummary, Verification, compare_faces, embed,
                                     embed_faces, face_chips, face_distance, face_encodings, load_image,
                                     verify)
from visiontk.face.training import TrainConfig, train
from visiontk.face.video import FULL_EVERY, detect_video, identify_video

__all__ = ["DEFAULT_CLUSTER_DISTANCE", "DEFAULT_MIN_CLUSTER_FACE", "DEFAULT_MAX_DISTANCE",
           "DEFAULT_MIN_CONFIDENCE", "DEFAULT_MIN_FACE", "FULL_EVERY", "UNKNOWN", "Clustering", "EmbeddingSet",
           "Enrolment", "Face", "FaceClusters", "FaceEmbedding", "FaceModel", "Gallery", "Match", "PairsSummary",
           "TrainConfig", "Verification", "align", "chinese_whispers", "cluster_embeddings", "cluster_faces",
           "cluster_photos", "compare_faces", "describe_faces", "describe_groups", "describe_names",
           "detect_faces", "detect_file", "detect_photo", "detect_video", "drawn_path", "embed", "embed_faces",
           "embed_photo", "enroll", "evaluate", "export", "face_chips", "face_distance", "face_encodings",
           "identify_file", "identify_photo", "identify_video", "load_image", "load_model", "pairwise_scores",
           "remove_person", "train", "verify"]


# face.DEFAULT_THRESHOLD was the same-person distance: the old name of DEFAULT_MAX_DISTANCE.
__getattr__ = _renamed_constants(__name__, {"DEFAULT_THRESHOLD": ("DEFAULT_MAX_DISTANCE", DEFAULT_MAX_DISTANCE)})
