"""act_bench.data.images on tiny files written here in the real distributed formats (nothing downloaded).

CIFAR-10: the batches are pickled like the originals (Python-2 string keys, so `encoding='bytes'`
gives b'data' and torchvision's `encoding='latin1'` gives 'data'). torchvision md5-checks every
file against the real dataset's sums, so synthetic batches are read through a subclass of
torchvision's CIFAR10 whose md5 table lists the test files' sums (`CIFAR10Images.torchvision_class`
is patched in these tests only); the unpatched class is also run to check that the md5 failure
becomes a DatasetError.
"""

import hashlib
import io
import json
import pickle
import pickletools

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import CIFAR10

import act_bench.data.images as ds
from act_bench.data.images import (CIFAR10Images, DatasetError, ImageFolderImages, ImageNet64Images, LSUNImages,
                                convert_imagenet64_npz, open_dataset)

lmdb = pytest.importorskip('lmdb')


def _in_range(x):
    return x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


def _expected(chw_uint8):
    return torch.from_numpy(chw_uint8.astype(np.float32)) / 127.5 - 1

#----------------------------------------------------------------------------
# CIFAR-10

def _py2_pickle(d):
    """A dict pickled as Python 2's cPickle wrote the CIFAR batches: protocol 2, keys as py2 `str`
    (SHORT_BINSTRING), values pickled normally."""
    out = b'\x80\x02}('
    for key, value in d.items():
        k = key.encode('latin1')
        out += b'U' + bytes([len(k)]) + k
        frag = pickletools.optimize(pickle.dumps(value, protocol=2))
        assert frag[:2] == b'\x80\x02' and frag[-1:] == b'.'
        out += frag[2:-1]
    return out + b'u.'


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root, n=4, seed=0):
    """root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; returns the train
    images (CHW uint8) and labels in order."""
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n)]
        (folder / name).write_bytes(_py2_pickle({
            'batch_label': f'synthetic {name}', 'labels': y, 'data': x.reshape(n, 3072),
            'filenames': [f'img_{name}_{i}.png' for i in range(n)]}))
        if name != 'test_batch':
            images.append(x)
            labels += y
    (folder / 'batches.meta').write_bytes(_py2_pickle({
        'num_cases_per_batch': n, 'num_vis': 3072,
        'label_names': ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']}))
    return np.concatenate(images), labels


def cifar_with_md5s_of(folder):
    """torchvision's CIFAR10 with its md5 table replaced by the sums of the files in `folder`."""
    class SyntheticCIFAR10(CIFAR10):
        train_list = [[name, _md5(folder / name)] for name, _ in CIFAR10.train_list]
        test_list = [[name, _md5(folder / name)] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, 'md5': _md5(folder / CIFAR10.meta['filename'])}
    return SyntheticCIFAR10


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    root = tmp_path / 'cifar'
    images, labels = write_cifar(root)
    monkeypatch.setattr(CIFAR10Images, 'torchvision_class', cifar_with_md5s_of(root / 'cifar-10-batches-py'))
    return root, images, labels


def test_cifar_batches_pickled_like_the_originals(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_1', 'rb') as f:
        entry = pickle.load(f, encoding='bytes')      # as on the CIFAR website
    assert entry[b'data'].dtype == np.uint8 and entry[b'data'].shape == (4, 3072) and len(entry[b'labels']) == 4


def test_cifar10_reads_torchvision_layout(cifar_root):
    root, images, labels = cifar_root
    data = CIFAR10Images(root)
    assert (len(data), data.resolution, data.channels, data.num_classes) == (20, 32, 3, None)   # unconditional
    assert CIFAR10Images(root, class_conditional=True).num_classes == 10
    assert data.classes[3] == 'cat'
    for i in (0, 7, 19):
        x, y = data[i]
        assert x.shape == (3, 32, 32) and _in_range(x)
        assert torch.equal(x, _expected(images[i])) and y == labels[i]    # CHW rows -> CHW tensor, exactly
    test = CIFAR10Images(root / 'cifar-10-batches-py', train=False)       # the batches folder itself also works
    assert len(test) == 4
    x, y = next(iter(DataLoader(data, batch_size=8)))
    assert x.shape == (8, 3, 32, 32) and y.dtype == torch.int64


def test_cifar10_random_flip(cifar_root):
    root, images, _ = cifar_root
    data = CIFAR10Images(root, random_flip=True)
    torch.manual_seed(0)
    seen = {bool(torch.equal(data[0][0], _expected(images[0]).flip(-1))) for _ in range(40)}
    assert seen == {True, False}


def test_cifar10_errors_name_the_root(tmp_path, monkeypatch):
    missing = tmp_path / 'nowhere'
    with pytest.raises(DatasetError, match='cifar-10-batches-py') as e:
        CIFAR10Images(missing)
    assert str(missing) in str(e.value) and 'download: true' in str(e.value)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DatasetError, match="has no 'cifar-10-batches-py' folder") as e:
        CIFAR10Images(empty)
    assert str(empty) in str(e.value)
    # Synthetic batches fail torchvision's real md5 check (the unpatched reader).
    synthetic = tmp_path / 'synthetic'
    write_cifar(synthetic)
    with pytest.raises(DatasetError, match='corrupted') as e:
        CIFAR10Images(synthetic)
    assert str(synthetic) in str(e.value)
    # A batch missing with matching sums for the rest.
    monkeypatch.setattr(CIFAR10Images, 'torchvision_class', cifar_with_md5s_of(synthetic / 'cifar-10-batches-py'))
    (synthetic / 'cifar-10-batches-py' / 'data_batch_3').unlink()
    with pytest.raises(DatasetError, match='missing batch files'):
        CIFAR10Images(synthetic)

#----------------------------------------------------------------------------
# ImageNet 64×64

def write_imagenet_batch(path, n, rng, compressed=False, labels=None):
    """An official-style batch: 'data' uint8 [n, 12288] (rows = R plane, G plane, B plane), 'labels' 1..1000."""
    chw = rng.integers(0, 256, (n, 3, 64, 64), dtype=np.uint8)
    labels = list(rng.integers(1, 1001, n)) if labels is None else labels
    (np.savez_compressed if compressed else np.savez)(
        path, data=chw.reshape(n, -1), labels=[int(v) for v in labels], mean=chw.reshape(n, -1).mean(0))
    return chw, labels


@pytest.fixture
def imagenet_npz(tmp_path):
    npz = tmp_path / 'Imagenet64_train_npz'
    npz.mkdir()
    rng = np.random.default_rng(1)
    # numeric order (2 before 10), one plain and one deflated zip
    x2, y2 = write_imagenet_batch(npz / 'train_data_batch_2.npz', 5, rng, labels=[1, 1000, 7, 500, 2])
    x10, y10 = write_imagenet_batch(npz / 'train_data_batch_10.npz', 4, rng, compressed=True)
    (npz / 'val_data.npz').write_bytes(b'not a train batch')        # ignored by name
    # a known image: channel c holds value 10*c + column index
    x2[1] = (np.arange(3)[:, None, None] * 10 + np.arange(64)[None, None, :]).astype(np.uint8)
    np.savez(npz / 'train_data_batch_2.npz', data=x2.reshape(5, -1), labels=y2)
    return npz, np.concatenate([x2, x10]), list(y2) + list(y10)


def test_imagenet64_convert_and_load(imagenet_npz, tmp_path):
    npz, images, labels = imagenet_npz
    out = tmp_path / 'imagenet64'
    meta = convert_imagenet64_npz(npz, out, rows_per_chunk=3)        # chunks straddle the batches
    assert meta['num_images'] == 9 and [s['file'] for s in meta['sources']] == \
        ['train_data_batch_2.npz', 'train_data_batch_10.npz']
    assert sorted(p.name for p in out.iterdir()) == ['images.npy', 'labels.npy', 'meta.json']
    assert json.loads((out / 'meta.json').read_text())['layout'] == 'NCHW'
    stored = np.load(out / 'images.npy', mmap_mode='r')
    assert stored.shape == (9, 3, 64, 64) and stored.dtype == np.uint8 and np.array_equal(stored, images)

    data = ImageNet64Images(out)
    assert (len(data), data.resolution, data.channels, data.num_classes) == (9, 64, 3, 1000)
    assert [data[i][1] for i in range(9)] == [v - 1 for v in labels]
    assert data[0][1] == 0 and data[1][1] == 999
    x, _ = data[1]
    assert torch.equal(x, _expected(images[1])) and _in_range(x)
    assert x[2, 5, 7] == (20 + 7) / 127.5 - 1               # channel 2 (B), row 5, column 7
    clone = pickle.loads(pickle.dumps(data))                 # as sent to DataLoader workers
    assert clone._images is None and torch.equal(clone[8][0], data[8][0])
    batch_x, batch_y = next(iter(DataLoader(data, batch_size=9)))
    assert batch_x.shape == (9, 3, 64, 64) and batch_y.tolist() == [v - 1 for v in labels]


def test_imagenet64_conversion_is_atomic(imagenet_npz, tmp_path, monkeypatch):
    npz, _, _ = imagenet_npz
    out = tmp_path / 'imagenet64'
    convert_imagenet64_npz(npz, out)

    def broken(zf, rows):
        yield from ()
        raise EOFError('truncated data.npy')
    monkeypatch.setattr(ds, '_iter_npz_rows', broken)
    with pytest.raises(DatasetError, match='could not be read'):
        convert_imagenet64_npz(npz, out)
    # the old meta.json is gone (the folder is no longer a finished conversion), no temp files left
    assert sorted(p.name for p in out.iterdir()) == ['images.npy', 'labels.npy']
    with pytest.raises(DatasetError, match='no meta.json') as e:
        ImageNet64Images(out)
    assert str(out) in str(e.value)


def test_imagenet64_errors_name_the_file(tmp_path, imagenet_npz):
    npz, _, _ = imagenet_npz
    rng = np.random.default_rng(2)
    cases = tmp_path / 'cases'

    def single(name, **arrays):
        folder = cases / name
        folder.mkdir(parents=True)
        np.savez(folder / 'train_data_batch_1.npz', **arrays)
        return folder, folder / 'train_data_batch_1.npz'

    for folder, file, pattern in [
            (*single('no_labels', data=np.zeros((2, 12288), np.uint8)), "no 'labels' array"),
            (*single('no_data', labels=[1, 2]), "no 'data' array"),
            (*single('row_length', data=np.zeros((2, 3072), np.uint8), labels=[1, 2]), r'shape \(2, 3072\)'),
            (*single('dtype', data=np.zeros((2, 12288), np.float32), labels=[1, 2]), 'dtype float32'),
            (*single('label_range', data=np.zeros((2, 12288), np.uint8), labels=[0, 2]), r'labels in 0\.\.2'),
            (*single('label_count', data=np.zeros((2, 12288), np.uint8), labels=[1]), "'labels' of shape")]:
        with pytest.raises(DatasetError, match=pattern) as e:
            convert_imagenet64_npz(folder, tmp_path / 'out')
        assert str(file) in str(e.value) and 'train_data_batch' in str(e.value)
    bad_zip = cases / 'bad_zip'
    bad_zip.mkdir()
    (bad_zip / 'train_data_batch_1.npz').write_bytes(b'garbage')
    with pytest.raises(DatasetError, match='cannot be read') as e:
        convert_imagenet64_npz(bad_zip, tmp_path / 'out')
    assert str(bad_zip / 'train_data_batch_1.npz') in str(e.value)
    with pytest.raises(DatasetError, match='does not exist') as e:
        convert_imagenet64_npz(tmp_path / 'nowhere', tmp_path / 'out')
    assert str(tmp_path / 'nowhere') in str(e.value)
    with pytest.raises(DatasetError, match='no train_data_batch') as e:
        convert_imagenet64_npz(bad_zip.parent, tmp_path / 'out')
    assert not (tmp_path / 'out').exists()                    # nothing written when the input is bad
    for path, pattern in [(tmp_path / 'nowhere', 'does not exist'), (npz, 'raw npz batches'),
                          (npz / 'train_data_batch_2.npz', 'not a folder')]:
        with pytest.raises(DatasetError, match=pattern) as e:
            ImageNet64Images(path)
        assert str(path) in str(e.value)

#----------------------------------------------------------------------------
# Images: encoded bytes, LMDB, folders.

def stripes(width, height):
    """Left quarter red, middle half green, right quarter blue."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, :width // 4, 0] = 255
    arr[:, width // 4:3 * width // 4, 1] = 255
    arr[:, 3 * width // 4:, 2] = 255
    return Image.fromarray(arr)


def encode(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_lmdb(path, items):
    env = lmdb.open(str(path), map_size=1 << 22, subdir=True)
    with env.begin(write=True) as txn:
        for key, value in items.items():
            txn.put(key, value)
    env.close()


@pytest.fixture
def cat_lmdb(tmp_path):
    path = tmp_path / 'cat_lmdb'
    write_lmdb(path, {
        b'00a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d': encode(stripes(64, 32), 'PNG'),
        b'01ffeeddccbbaa99887766554433221100ffeedd': encode(stripes(40, 30), 'WEBP', lossless=True),
        b'02aabbccddeeff00112233445566778899aabbcc': encode(Image.new('RGB', (30, 50), (0, 0, 255)), 'JPEG',
                                                            quality=95)})
    return path


def test_lsun_lmdb(cat_lmdb):
    assert sorted(p.name for p in cat_lmdb.iterdir()) == ['data.mdb', 'lock.mdb']
    data = LSUNImages(cat_lmdb, resolution=16)
    assert (len(data), data.resolution, data.channels, data.num_classes, data.source) == (3, 16, 3, None, 'lmdb')
    for i in range(3):
        x, y = data[i]
        assert x.shape == (3, 16, 16) and _in_range(x) and y == -1
    green = data[0][0]           # 64×32 -> 32×16 -> center 16×16 = the green middle half
    assert torch.equal(green[1], torch.ones(16, 16)) and torch.equal(green[0], -torch.ones(16, 16))
    assert (data[2][0][2] > 0.9).all() and (data[2][0][:2] < -0.9).all()     # JPEG blue, crop of 30×50
    assert torch.equal(pickle.loads(pickle.dumps(data))[1][0], data[1][0])     # as sent to workers
    x, y = next(iter(DataLoader(data, batch_size=3)))
    assert x.shape == (3, 3, 16, 16) and y.tolist() == [-1, -1, -1]
    forked = DataLoader(data, batch_size=3, num_workers=1, multiprocessing_context='fork')
    assert torch.equal(next(iter(forked))[0], x)                             # a worker process reads it too
    assert len(LSUNImages(cat_lmdb / 'data.mdb', resolution=8)) == 3       # the data.mdb file itself


def test_lsun_image_folder_and_errors(tmp_path, cat_lmdb):
    folder = tmp_path / 'cat_images'
    folder.mkdir()
    stripes(48, 24).save(folder / 'a.webp', lossless=True)
    data = LSUNImages(folder, resolution=12)
    assert data.source == 'image_folder' and len(data) == 1 and data[0][0].shape == (3, 12, 12)

    no_data = tmp_path / 'half_lmdb'
    no_data.mkdir()
    (no_data / 'lock.mdb').write_bytes(b'')
    empty = tmp_path / 'empty'
    empty.mkdir()
    for path, pattern in [(tmp_path / 'nowhere', 'does not exist'), (no_data, 'has no data.mdb'),
                          (empty, 'neither data.mdb nor any images'), (folder / 'a.webp', 'is a file')]:
        with pytest.raises(DatasetError, match=pattern) as e:
            LSUNImages(path)
        assert str(path) in str(e.value)

    broken = tmp_path / 'broken_lmdb'
    write_lmdb(broken, {b'k1': encode(stripes(8, 8), 'PNG'), b'k2': b'not an image'})
    data = LSUNImages(broken, resolution=8)
    assert data[0][0].shape == (3, 8, 8)
    with pytest.raises(DatasetError, match="key 'k2'") as e:
        data[1]
    assert str(broken) in str(e.value)
    not_lmdb = tmp_path / 'not_lmdb'
    not_lmdb.mkdir()
    (not_lmdb / 'data.mdb').write_bytes(b'garbage' * 100)
    with pytest.raises(DatasetError, match='cannot be opened as an LMDB') as e:
        LSUNImages(not_lmdb)
    assert str(not_lmdb) in str(e.value)


def test_image_folder(tmp_path):
    root = tmp_path / 'images'
    (root / 'sub' / 'deeper').mkdir(parents=True)
    stripes(64, 32).save(root / 'b.png')
    stripes(20, 20).save(root / 'sub' / 'c.JPG', quality=95)
    Image.new('L', (16, 24), 255).save(root / 'sub' / 'deeper' / 'a.jpeg')     # grayscale -> RGB
    (root / 'notes.txt').write_text('ignored')
    data = ImageFolderImages(root, resolution=16)
    assert [p.split('images')[-1] for p in data.files] == ['/b.png', '/sub/c.JPG', '/sub/deeper/a.jpeg']
    assert (data.resolution, data.channels, data.num_classes) == (16, 3, None)
    for i in range(3):
        x, y = data[i]
        assert x.shape == (3, 16, 16) and _in_range(x) and y == -1
    assert torch.equal(data[0][0][1], torch.ones(16, 16))
    assert torch.allclose(data[2][0], torch.ones(3, 16, 16))


def test_image_folder_errors_name_the_path(tmp_path):
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'readme.txt').write_text('no images')
    for path, pattern in [(tmp_path / 'nowhere', 'does not exist'), (empty, 'holds no png/jpg/jpeg/webp'),
                          (empty / 'sub' / 'readme.txt', 'is not a folder')]:
        with pytest.raises(DatasetError, match=pattern) as e:
            ImageFolderImages(path, resolution=8)
        assert str(path) in str(e.value)
    bad = tmp_path / 'bad'
    bad.mkdir()
    stripes(8, 8).save(bad / 'good.png')
    (bad / 'truncated.png').write_bytes(encode(stripes(8, 8), 'PNG')[:40])
    data = ImageFolderImages(bad, resolution=8)
    with pytest.raises(DatasetError, match='not a readable png/jpeg/webp image') as e:
        data[1]
    assert str(bad / 'truncated.png') in str(e.value)
    with pytest.raises(DatasetError, match='positive integer'):
        ImageFolderImages(bad, resolution=0)

#----------------------------------------------------------------------------
# open_dataset

def test_open_dataset_each_kind(tmp_path, cifar_root, imagenet_npz, cat_lmdb):
    root, _, _ = cifar_root
    assert len(open_dataset({'kind': 'cifar10', 'data_root': str(root), 'download': False})) == 20
    assert len(open_dataset({'kind': 'cifar10', 'data_root': str(root)}, split='test')) == 4
    convert_imagenet64_npz(imagenet_npz[0], tmp_path / 'in64')
    assert open_dataset({'kind': 'imagenet64', 'path': str(tmp_path / 'in64')}).num_classes == 1000
    raw = {'kind': 'imagenet64', 'npz_dir': str(imagenet_npz[0]), 'random_flip': True}
    assert len(open_dataset(raw, path=tmp_path / 'in64')) == 9
    with pytest.raises(DatasetError, match='holds the raw batches') as e:
        open_dataset(raw)
    assert str(imagenet_npz[0]) in str(e.value)
    assert open_dataset({'kind': 'cifar10', 'data_root': 'x', 'class_conditional': True},
                        path=root).num_classes == 10
    lsun = open_dataset({'kind': 'lsun', 'path': str(cat_lmdb), 'resolution': 8})
    assert isinstance(lsun, LSUNImages) and lsun[0][0].shape == (3, 8, 8)
    assert open_dataset({'kind': 'lsun', 'path': str(cat_lmdb)}).resolution == 256
    folder = tmp_path / 'folder'
    folder.mkdir()
    stripes(8, 8).save(folder / 'x.png')
    data = open_dataset({'kind': 'image_folder', 'path': str(folder), 'resolution': 4}, random_flip=True)
    assert isinstance(data, ImageFolderImages) and data.random_flip and data[0][0].shape == (3, 4, 4)


def test_open_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="kind 'mnist' is not one of"):
        open_dataset({'kind': 'mnist'})
    with pytest.raises(DatasetError, match="needs the key 'path'"):
        open_dataset({'kind': 'lsun'})
    with pytest.raises(DatasetError, match="needs the key 'resolution'"):
        open_dataset({'kind': 'image_folder', 'path': str(tmp_path)})
    with pytest.raises(DatasetError, match="has no split 'test'") as e:
        open_dataset({'kind': 'imagenet64', 'path': str(tmp_path / 'in64')}, split='test')
    assert str(tmp_path / 'in64') in str(e.value)
    with pytest.raises(DatasetError, match='does not exist') as e:
        open_dataset({'kind': 'cifar10', 'data_root': str(tmp_path / 'c')})
    assert str(tmp_path / 'c') in str(e.value)


def test_convert_command_line(imagenet_npz, tmp_path, capsys):
    from act_bench.cli import main
    assert main(['convert-imagenet64', '--npz-dir', str(imagenet_npz[0]), '--out', str(tmp_path / 'out')]) == 0
    assert 'wrote 9 images' in capsys.readouterr().out
    assert main(['convert-imagenet64', '--npz-dir', str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'o2')]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / 'nowhere') in err and 'Traceback' not in err
