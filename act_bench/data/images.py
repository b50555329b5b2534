"""Loaders for the paper datasets in their distributed formats, from local paths.

Every dataset yields `(image, label)`: `image` a float32 tensor [C, H, W] in [−1, 1]
(pixels/127.5 − 1) and `label` an int (−1 when the dataset has no labels), so the default
collate works. Each exposes `.resolution`, `.channels` and `.num_classes` (None when unlabelled).

* CIFAR10Images      torchvision's `cifar-10-batches-py` folder (md5-checked by torchvision).
* ImageNet64Images   the official downsampled-ImageNet 64×64 npz train batches after a one-off
                     conversion by `convert_imagenet64_npz` (memory-mapped .npy files).
* LSUNImages         an LSUN LMDB as distributed (folder with data.mdb), or a folder of images.
* ImageFolderImages  any folder tree of png/jpg/jpeg/webp images.

`open_dataset(spec)` builds one from a config entry. Problems are raised as `DatasetError`, one
sentence naming the path and the expected format. Nothing here downloads, except CIFAR-10 with
`download: true` (torchvision's downloader).

Convert ImageNet64 once with
    act-bench convert-imagenet64 --npz-dir NPZ_DIR --out OUT_DIR
"""

import io
import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from act_bench.data.kinds import kind_of
from act_bench.runtime.errors import DatasetError  # noqa: F401  (re-exported)


IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp')

#----------------------------------------------------------------------------
# Pixel helpers.

def _to_tensor(pixels, layout='HWC'):
    """uint8 array -> float32 tensor [C, H, W] in [−1, 1]."""
    x = torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True))
    if layout == 'HWC':
        x = x.permute(2, 0, 1)
    return x.float().div_(127.5).sub_(1.0).contiguous()


def _maybe_flip(x, random_flip):
    if random_flip and torch.rand(()) < 0.5:
        x = x.flip(-1)
    return x


def center_crop_arr(image, resolution):
    """Resize the shorter side to `resolution` and center-crop (guided-diffusion's LSUN practice:
    halve with a box filter while ≥ 2× too large, then PIL bicubic, which antialiases)."""
    from PIL import Image
    while min(*image.size) >= 2 * resolution:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = resolution / min(*image.size)
    image = image.resize(tuple(max(resolution, round(x * scale)) for x in image.size), resample=Image.BICUBIC)
    arr = np.asarray(image)
    top, left = (arr.shape[0] - resolution) // 2, (arr.shape[1] - resolution) // 2
    return arr[top:top + resolution, left:left + resolution]


def _decode_image(data, what):
    """Bytes or a file path -> RGB PIL image; an unreadable image is a DatasetError naming `what`."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            image.load()
            return image.convert('RGB')
    except Exception as e:          # PIL raises OSError, ValueError, DecompressionBombError, ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DatasetError(f'{what} is not a readable png/jpeg/webp image ({reason})') from None


def _check_resolution(resolution, path):
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool) or resolution < 1:
        raise DatasetError(f'the resolution for {path} must be a positive integer, got {resolution!r}')
    return int(resolution)

#----------------------------------------------------------------------------
# CIFAR-10 through torchvision.

class CIFAR10Images(Dataset):
    """torchvision's CIFAR-10 (`data_root/cifar-10-batches-py/`, md5-checked), with labels 0..9.

    Labels are always returned, but `num_classes` is None (the paper's CIFAR-10 models are
    unconditional) unless `class_conditional=True`, which makes it 10.

    `torchvision_class` is the reader; it is torchvision.datasets.CIFAR10 unless replaced (the
    tests substitute a subclass whose md5 table matches their synthetic batches)."""

    torchvision_class = None
    resolution, channels = 32, 3

    def __init__(self, data_root, train=True, download=False, random_flip=False, class_conditional=False):
        self.num_classes = 10 if class_conditional else None
        root = Path(os.path.expanduser(str(data_root)))
        if root.name == 'cifar-10-batches-py' and (root / 'batches.meta').is_file():
            root = root.parent          # pointed at the batches folder itself
        self.data_root, self.train, self.random_flip = root, bool(train), bool(random_flip)
        expected = (f"CIFAR-10 data_root {root} {{}}: expected torchvision's layout, a 'cifar-10-batches-py' "
                    "folder holding data_batch_1..5, test_batch and batches.meta (md5-checked), under "
                    "data_root (set `download: true` to fetch it on a machine with internet)")
        if not download and not root.exists():
            raise DatasetError(expected.format('does not exist'))
        if not download and not (root / 'cifar-10-batches-py').is_dir():
            raise DatasetError(expected.format("has no 'cifar-10-batches-py' folder"))
        cls = self.torchvision_class
        if cls is None:
            from torchvision.datasets import CIFAR10 as cls
        try:
            ds = cls(str(root), train=self.train, download=bool(download))
        except (RuntimeError, OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as e:
            if download:
                reason = f'{type(e).__name__}: {str(e).splitlines()[0]}' if str(e) else type(e).__name__
                raise DatasetError(f'could not download or read CIFAR-10 in data_root {root} ({reason}); '
                                   "without internet, place torchvision's 'cifar-10-batches-py' folder "
                                   'there and set `download: false`') from None
            raise DatasetError(expected.format('is missing batch files or they are corrupted')) from None
        data = np.asarray(ds.data)
        if data.dtype != np.uint8 or data.shape[1:] != (32, 32, 3) or len(data) != len(ds.targets):
            raise DatasetError(expected.format(f'holds batches of shape {data.shape}'))
        self.images = data                                  # [N, 32, 32, 3] uint8, HWC
        self.labels = np.asarray(ds.targets, dtype=np.int64)
        self.classes = list(getattr(ds, 'classes', []))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        x = _maybe_flip(_to_tensor(self.images[index]), self.random_flip)
        return x, int(self.labels[index])

#----------------------------------------------------------------------------
# Downsampled ImageNet 64×64: npz batches -> memory-mapped .npy files.

IMAGENET64_FORMAT = 'act-bench-imagenet64'
_BATCH_RE = re.compile(r'^train_data_batch_(\d+)\.npz$')


def _npz_data_header(zf, npz_path):
    """(shape, dtype, fortran_order) of data.npy inside an open npz, without reading the array."""
    with zf.open('data.npy') as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DatasetError(f"ImageNet64 batch {npz_path} stores 'data' in .npy format version "
                               f'{version}, which this converter does not read (expected 1.0 or 2.0)')
    return shape, dtype, fortran


def _iter_npz_rows(zf, rows_per_chunk):
    """Stream the rows of data.npy (C order) in chunks, never holding the whole array."""
    with zf.open('data.npy') as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
        row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        left = shape[0]
        while left:
            n = min(rows_per_chunk, left)
            buf = f.read(n * row_bytes)
            if len(buf) != n * row_bytes:
                raise EOFError('truncated data.npy')
            yield np.frombuffer(buf, dtype=dtype).reshape((n,) + tuple(shape[1:]))
            left -= n


def _scan_imagenet_batch(path, resolution):
    """Check one npz batch and return its 0-based labels."""
    row = 3 * resolution * resolution
    expected = (f"ImageNet{resolution} batch {path} {{}}: expected an npz with 'data' (uint8 [N, {row}], "
                f"CHW-flattened rows) and 'labels' (N ints in 1..1000), as in the official "
                f'downsampled-ImageNet train_data_batch_*.npz files')
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [k for k in ('data', 'labels') if f'{k}.npy' not in names]
            if missing:
                raise DatasetError(expected.format(f"has no {' or '.join(repr(k) for k in missing)} array"))
            shape, dtype, fortran = _npz_data_header(zf, path)
        with np.load(path, allow_pickle=False) as npz:
            labels = np.asarray(npz['labels'])
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DatasetError(expected.format(f'cannot be read ({type(e).__name__})')) from None
    if len(shape) != 2 or shape[1] != row:
        raise DatasetError(expected.format(f"has 'data' of shape {tuple(shape)}"))
    if dtype != np.uint8 or fortran:
        raise DatasetError(expected.format(f"has 'data' of dtype {dtype}{' in Fortran order' if fortran else ''}"))
    if labels.ndim != 1 or len(labels) != shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(expected.format(f"has 'labels' of shape {labels.shape} and dtype {labels.dtype} "
                                           f'for {shape[0]} images'))
    if len(labels) and (labels.min() < 1 or labels.max() > 1000):
        raise DatasetError(expected.format(f'has labels in {labels.min()}..{labels.max()}'))
    return (labels - 1).astype(np.int64)


def convert_imagenet64_npz(npz_dir, out_dir, resolution=64, rows_per_chunk=8192):
    """Convert the official downsampled-ImageNet train batches (npz_dir/train_data_batch_1..10.npz)
    into out_dir/{images.npy, labels.npy, meta.json}; returns the meta dict.

    images.npy: uint8 [N, 3, R, R] (the batches' CHW rows, reshaped; batches in numeric order),
    labels.npy: int64 [N] in 0..999 (the files' 1..1000 minus one). Written through
    np.lib.format.open_memmap in chunks (never all in RAM) under temporary names, renamed at
    the end; meta.json is written last, so a folder with meta.json is a finished conversion."""
    npz_dir, out_dir = Path(os.path.expanduser(str(npz_dir))), Path(os.path.expanduser(str(out_dir)))
    resolution = _check_resolution(resolution, npz_dir)
    if not npz_dir.is_dir():
        raise DatasetError(f'ImageNet{resolution} npz folder {npz_dir} does not exist or is not a folder: expected '
                           'the official train_data_batch_1..10.npz files in it')
    batches = sorted((p for p in npz_dir.iterdir() if _BATCH_RE.match(p.name)),
                     key=lambda p: int(_BATCH_RE.match(p.name).group(1)))
    if not batches:
        raise DatasetError(f'ImageNet{resolution} npz folder {npz_dir} holds no train_data_batch_<k>.npz files '
                           '(the official downsampled-ImageNet train batches)')
    labels = [_scan_imagenet_batch(p, resolution) for p in batches]
    total = sum(len(x) for x in labels)
    if total == 0:
        raise DatasetError(f'ImageNet{resolution} npz folder {npz_dir} holds only empty batches')

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'meta.json').unlink(missing_ok=True)        # an interrupted overwrite is never "finished"
    tmp = {name: out_dir / f'.{name}.tmp-{os.getpid()}' for name in ('images.npy', 'labels.npy', 'meta.json')}
    try:
        images = np.lib.format.open_memmap(tmp['images.npy'], mode='w+', dtype=np.uint8,
                                           shape=(total, 3, resolution, resolution))
        start = 0
        for path in batches:
            with zipfile.ZipFile(path) as zf:
                for chunk in _iter_npz_rows(zf, rows_per_chunk):
                    images[start:start + len(chunk)] = chunk.reshape(-1, 3, resolution, resolution)
                    start += len(chunk)
        images.flush()
        del images
        with open(tmp['labels.npy'], 'wb') as f:      # a file object: np.save would append '.npy' to the name
            np.save(f, np.concatenate(labels))
        meta = {'format': IMAGENET64_FORMAT, 'version': 1, 'layout': 'NCHW', 'dtype': 'uint8',
                'num_images': int(total), 'resolution': resolution, 'channels': 3, 'num_classes': 1000,
                'labels': '0..999 (official 1..1000 minus one)',
                'sources': [{'file': p.name, 'num_images': len(x)} for p, x in zip(batches, labels)]}
        tmp['meta.json'].write_text(json.dumps(meta, indent=1))
        os.replace(tmp['images.npy'], out_dir / 'images.npy')
        os.replace(tmp['labels.npy'], out_dir / 'labels.npy')
        os.replace(tmp['meta.json'], out_dir / 'meta.json')
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise DatasetError(f'ImageNet{resolution} npz folder {npz_dir}: a batch could not be read while converting '
                           f'({type(e).__name__}: {e})') from None
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    return meta


class ImageNet64Images(Dataset):
    """The output folder of `convert_imagenet64_npz`, memory-mapped; labels 0..999."""

    channels = 3

    def __init__(self, path, random_flip=False):
        path = Path(os.path.expanduser(str(path)))
        self.path, self.random_flip = path, bool(random_flip)
        expected = (f'ImageNet64 folder {path} {{}}: expected images.npy, labels.npy and meta.json written by '
                    'act_bench.data.images.convert_imagenet64_npz (act-bench convert-imagenet64 --npz-dir NPZ_DIR '
                    '--out OUT_DIR; the workflow runs it for you)')
        if not path.exists():
            raise DatasetError(expected.format('does not exist'))
        if not path.is_dir():
            raise DatasetError(expected.format('is not a folder'))
        if not (path / 'meta.json').is_file():
            raw = any(_BATCH_RE.match(p.name) for p in path.iterdir())
            raise DatasetError(expected.format('holds the raw npz batches, not converted ones' if raw
                                               else 'has no meta.json (missing or unfinished conversion)'))
        try:
            meta = json.loads((path / 'meta.json').read_text())
            images = np.load(path / 'images.npy', mmap_mode='r')
            labels = np.load(path / 'labels.npy', mmap_mode='r')
        except (OSError, ValueError) as e:
            raise DatasetError(expected.format(f'cannot be read ({type(e).__name__})')) from None
        r = meta.get('resolution') if isinstance(meta, dict) else None
        if (not isinstance(meta, dict) or meta.get('format') != IMAGENET64_FORMAT or images.dtype != np.uint8
                or images.ndim != 4 or images.shape[1:] != (3, r, r) or labels.shape != (len(images),)):
            raise DatasetError(expected.format(f'is inconsistent (images {images.shape} {images.dtype}, '
                                               f'labels {labels.shape})'))
        self.meta, self.resolution, self.num_classes = meta, int(r), int(meta.get('num_classes', 1000))
        self._images, self._labels = images, labels
        self._len = len(images)

    def __getstate__(self):           # workers re-open the memmaps instead of pickling their contents
        state = dict(self.__dict__)
        state['_images'] = state['_labels'] = None
        return state

    def _arrays(self):
        if self._images is None:
            self._images = np.load(self.path / 'images.npy', mmap_mode='r')
            self._labels = np.load(self.path / 'labels.npy', mmap_mode='r')
        return self._images, self._labels

    def __len__(self):
        return self._len

    def __getitem__(self, index):
        images, labels = self._arrays()
        x = _maybe_flip(_to_tensor(images[index], layout='CHW'), self.random_flip)
        return x, int(labels[index])

#----------------------------------------------------------------------------
# Image folders and LSUN LMDBs.

def _list_images(root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.'))
    return files


class ImageFolderImages(Dataset):
    """Every png/jpg/jpeg/webp under `path` (recursively, sorted), resized on the shorter side and
    center-cropped to `resolution`; unlabelled (label −1)."""

    channels, num_classes = 3, None

    def __init__(self, path, resolution, random_flip=False):
        path = Path(os.path.expanduser(str(path)))
        self.path, self.random_flip = path, bool(random_flip)
        self.resolution = _check_resolution(resolution, path)
        if not path.exists():
            raise DatasetError(f'image folder {path} does not exist')
        if not path.is_dir():
            raise DatasetError(f'image folder {path} is not a folder: expected a folder (searched recursively) '
                               f'of {"/".join(e[1:] for e in IMAGE_EXTENSIONS)} images')
        self.files = _list_images(path)
        if not self.files:
            raise DatasetError(f'image folder {path} holds no {"/".join(e[1:] for e in IMAGE_EXTENSIONS)} images '
                               '(searched recursively)')

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        file = self.files[index]
        image = _decode_image(file, f'image file {file}')
        x = _maybe_flip(_to_tensor(center_crop_arr(image, self.resolution)), self.random_flip)
        return x, -1


_LMDB_ENVS = {}      # (real path, data.mdb inode) -> (pid, read-only lmdb.Environment)


def _lmdb_env(path):
    """One read-only environment per LMDB and process (LMDB refuses to open the same files twice
    in a process). A forked DataLoader worker opens its own; where the lmdb package refuses that
    (py-lmdb ≥ 3 tracks open files across fork) the inherited read-only handle is used."""
    import lmdb
    key = (os.path.realpath(path), os.stat(Path(path) / 'data.mdb').st_ino)
    cached = _LMDB_ENVS.get(key)
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    try:
        env = lmdb.open(str(path), subdir=True, readonly=True, lock=False, readahead=False, meminit=False,
                        max_readers=1024)
    except lmdb.Error:
        if cached is None:
            raise
        env = cached[1]
    _LMDB_ENVS[key] = (os.getpid(), env)
    return env


class LSUNImages(Dataset):
    """LSUN as distributed: an LMDB folder (data.mdb [+ lock.mdb]) whose keys are image ids and
    values encoded webp/jpeg bytes, read-only; or a folder of images (delegated to
    ImageFolderImages). Images are resized on the shorter side and center-cropped to `resolution`;
    unlabelled (label −1). The key list is held in memory."""

    channels, num_classes = 3, None

    def __init__(self, path, resolution=256, random_flip=False):
        path = Path(os.path.expanduser(str(path)))
        if path.is_file() and path.name == 'data.mdb':
            path = path.parent
        self.path, self.random_flip = path, bool(random_flip)
        self.resolution = _check_resolution(resolution, path)
        self._folder = None
        expected = (f'LSUN path {path} {{}}: expected an LMDB folder as distributed (data.mdb and lock.mdb, '
                    'e.g. cat_lmdb/) or a folder of png/jpg/webp images')
        if not path.exists():
            raise DatasetError(expected.format('does not exist'))
        if not path.is_dir():
            raise DatasetError(expected.format('is a file'))
        if not (path / 'data.mdb').is_file():
            if (path / 'lock.mdb').exists() or any(path.glob('*.mdb')):
                raise DatasetError(expected.format('looks like an LMDB folder but has no data.mdb'))
            if not _list_images(path):
                raise DatasetError(expected.format('has neither data.mdb nor any images'))
            self._folder = ImageFolderImages(path, self.resolution, random_flip)
            self.source = 'image_folder'
            return
        self.source = 'lmdb'
        import lmdb
        try:
            with _lmdb_env(path).begin(write=False) as txn:
                keys = list(txn.cursor().iternext(keys=True, values=False))
        except lmdb.Error as e:
            raise DatasetError(expected.format(f'cannot be opened as an LMDB ({type(e).__name__}: '
                                               f'{str(e).splitlines()[0] if str(e) else ""})')) from None
        if not keys:
            raise DatasetError(expected.format('is an empty LMDB'))
        # A fixed-width bytes array is compact and cheap to send to workers; numpy would strip
        # trailing NUL bytes, so keep a list for keys that end with one.
        self.keys = keys if any(k.endswith(b'\0') for k in keys) else np.array(keys)

    def _txn_get(self, key):
        with _lmdb_env(self.path).begin(write=False, buffers=False) as txn:
            return txn.get(key)

    def __len__(self):
        return len(self._folder) if self._folder is not None else len(self.keys)

    def __getitem__(self, index):
        if self._folder is not None:
            return self._folder[index]
        key = bytes(self.keys[index])
        value = self._txn_get(key)
        if value is None:
            raise DatasetError(f'LSUN LMDB {self.path} has no value for key {key!r} (the LMDB changed after opening)')
        image = _decode_image(value, f'the value of key {key.decode("latin1")!r} in LSUN LMDB {self.path}')
        x = _maybe_flip(_to_tensor(center_crop_arr(image, self.resolution)), self.random_flip)
        return x, -1

#----------------------------------------------------------------------------
# From a config entry.

def _cifar10(spec, need, split, random_flip):
    return CIFAR10Images(need('data_root'), train=split == 'train', download=bool(spec.get('download', False)),
                         random_flip=random_flip, class_conditional=bool(spec.get('class_conditional', False)))


def _imagenet64(spec, need, split, random_flip):
    return ImageNet64Images(need('path'), random_flip=random_flip)


def _lsun(spec, need, split, random_flip):
    return LSUNImages(need('path'), resolution=spec.get('resolution', 256), random_flip=random_flip)


def _image_folder(spec, need, split, random_flip):
    return ImageFolderImages(need('path'), resolution=need('resolution'), random_flip=random_flip)


class ImageSource(NamedTuple):
    place_key: str   # the spec key that says where the data are
    splits: tuple
    open: Callable   # (spec, need, split, random_flip) → dataset


IMAGE_SOURCES = {'cifar10': ImageSource('data_root', ('train', 'test'), _cifar10),
                 'imagenet64': ImageSource('path', ('train',), _imagenet64),
                 'lsun': ImageSource('path', ('train',), _lsun),
                 'image_folder': ImageSource('path', ('train',), _image_folder)}


def open_dataset(spec, split='train', random_flip=False, path=None):
    """A dataset from a config entry, e.g.
        {'kind': 'cifar10', 'data_root': ..., 'download': False}
        {'kind': 'imagenet64', 'path': <folder written by convert_imagenet64_npz>}
        {'kind': 'lsun', 'path': <LMDB folder or image folder>, 'resolution': 256}
        {'kind': 'image_folder', 'path': ..., 'resolution': 64}
    `split`: 'train' everywhere; CIFAR-10 also has 'test'. `path` overrides the spec's path/data_root
    (e.g. the converted ImageNet64 folder when the spec names the raw `npz_dir`). `random_flip` flips
    inside the dataset; it is off by default because a spec's `random_flip` key is applied by the
    training sampler (act_bench.data.bundled.DatasetSampler), and flipping twice would undo half the flips'
    determinism. CIFAR-10 is opened unconditional (`num_classes` None) unless the spec says
    `class_conditional: true`. Unknown spec keys are ignored (the config schema validates them)."""
    if not isinstance(spec, dict):
        raise DatasetError(f'a dataset spec must be a mapping with a kind, got {spec!r}')
    kind = spec.get('kind')
    if kind not in IMAGE_SOURCES:
        raise DatasetError(f"dataset kind {kind!r} is not one of {', '.join(IMAGE_SOURCES)}")
    source = IMAGE_SOURCES[kind]
    spec = {**spec, source.place_key: path} if path is not None else spec

    def need(key):
        if spec.get(key) in (None, ''):
            if kind_of(kind).prepared_input == 'imagenet64_folder' and key == 'path' and spec.get('npz_dir'):
                raise DatasetError(f"ImageNet64 npz_dir {spec['npz_dir']} holds the raw batches: convert them once "
                                   'with act_bench.data.images.convert_imagenet64_npz and open the converted folder '
                                   "(spec key 'path' or open_dataset(..., path=...))")
            raise DatasetError(f"a '{kind}' dataset spec needs the key '{key}' (got keys {sorted(spec)})")
        return spec[key]

    if split not in source.splits:
        raise DatasetError(f"dataset {spec.get(source.place_key)} of kind '{kind}' has no split {split!r} "
                           f"(available: {', '.join(source.splits)})")
    return source.open(spec, need, split, random_flip)
