"""Inception FID and Inception Score through clean-fid, without downloads.

The network is clean-fid's TorchScript Inception (`inception-2015-12-05.pt`, the StyleGAN2-ADA
translation of TF Inception), loaded from a folder we name with `InceptionV3W(..., download=False)`:
never from clean-fid's hard-coded /tmp, never fetched. Images follow the CT/ACT protocol (ct-spec §7):
[-1, 1] → (x+1)/2·255, clipped, cast to uint8 (truncation), then resized as clean-fid does for the mode:

- `legacy_tensorflow` (the CT/ACT/EDM numbers, ct-spec §11): no outside resize; the network's own
  forward resizes to 299×299 (bilinear `grid_sample`) and normalises, as `build_feature_extractor` does;
- `clean`: every uint8 image is resized to 299×299 on the CPU by clean-fid's resizer (PIL bicubic,
  antialiased, per channel in float, clipped to [0, 255]), then the network's layers are applied.

The Inception Score uses the same network: pool3 features → the network's own 1008-way `output` layer
without its bias (as the TorchScript forward does with `no_output_bias=True`, StyleGAN2-ADA/3's IS and
the original improved-GAN TF code) → softmax → 10-split IS."""

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from act_bench.runtime.errors import ConfigError

WEIGHTS_FILE = 'inception-2015-12-05.pt'
# clean-fid's `cleanfid.downloads_helper.inception_url` (ecosystem.md §4.2); a test checks they agree.
WEIGHTS_URL = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt'
MODES = ('clean', 'legacy_tensorflow')
FEATURE_DIM = 2048  # InceptionV3W reshapes the pool3 output to (N, 2048)
LOGIT_CLASSES = 1008  # the TorchScript Inception's `output` layer
PROBE_SIZE = 8  # side of the image that checks a loaded file is the network (resized to 299 as any input)


class InceptionWeightsMissing(FileNotFoundError):
    """The TorchScript Inception file is not where it was said to be; nothing is downloaded."""

    def __init__(self, weights_dir):
        self.weights_dir = str(weights_dir)
        self.path = str(Path(weights_dir) / WEIGHTS_FILE)
        super().__init__(f'the Inception weights {WEIGHTS_FILE} are not in the folder {self.weights_dir}: '
                         f'fetch them once from {WEIGHTS_URL} into that folder (FID never downloads them)')


def refetch_hint(path):
    return f'delete the file and fetch it again from {WEIGHTS_URL} into {Path(path).parent}'


def not_inception(path, reason):
    """The error of a readable weights file that is not clean-fid's Inception network."""
    return ConfigError(f"the Inception weights {path} are not clean-fid's Inception network (a damaged or foreign "
                       f'file: {reason}): ' + refetch_hint(path))


def load_inception(weights_dir, mode):
    """clean-fid's InceptionV3W from the local weights; a truncated or foreign file is one sentence."""
    from cleanfid.inception_torchscript import InceptionV3W
    path = Path(weights_dir) / WEIGHTS_FILE
    try:
        return InceptionV3W(str(weights_dir), download=False, resize_inside=(mode == 'legacy_tensorflow'))
    except AttributeError:   # a TorchScript module without the network's `layers`
        raise not_inception(path, 'it has no `layers` module') from None
    except (RuntimeError, ValueError, OSError, EOFError):
        raise ConfigError(f'the Inception weights {path} are truncated or damaged (not a readable TorchScript '
                          'Inception network): ' + refetch_hint(path)) from None


def quantize(images):
    """[-1, 1] floats → uint8 as the CT/ACT code does: (x+1)/2·255, clip to [0, 255], cast (truncates).

    Accepts a numpy array or a tensor (kept on its device); uint8 input is returned unchanged."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise TypeError(f'images must be floats in [-1, 1] or uint8, not {x.dtype}')
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f'{bad} image values are not finite, so the images have no FID')
    return ((x + 1) / 2 * 255).clamp(0, 255).to(torch.uint8)


def _layout(shape):
    """'nchw' or 'nhwc' for a batch shape; floats must be NCHW, uint8 may be either."""
    if len(shape) != 4:
        raise ValueError(f'images must be a batch (N, C, H, W), got shape {tuple(shape)}')
    if shape[1] in (1, 3):
        return 'nchw'
    if shape[3] in (1, 3):
        return 'nhwc'
    raise ValueError(f'images must have 1 or 3 channels, got shape {tuple(shape)}')


def _to_uint8_nchw3(batch, layout):
    x = quantize(batch)
    if layout == 'nhwc':
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] == 1:  # grayscale → RGB, as the StyleGAN metrics do
        x = x.repeat(1, 3, 1, 1)
    return x


class InceptionFeatures:
    """Extractor for `metrics.FrechetDistance`: images (N, 3 or 1, H, W) floats in [-1, 1] (or uint8 in
    [0, 255], NCHW or NHWC) → pool3 features (N, 2048) float64; `logits` gives the IS logits."""

    def __init__(self, weights_dir, mode='legacy_tensorflow', device='cpu', batch_size=64, progress=False):
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, not {mode!r}')
        if not (Path(weights_dir) / WEIGHTS_FILE).is_file():  # before clean-fid is even imported
            raise InceptionWeightsMissing(weights_dir)
        from cleanfid.resize import build_resizer
        self.mode, self.batch_size, self.progress = mode, int(batch_size), progress
        self.device = torch.device(device)
        # resize_inside=True is exactly clean-fid's legacy_tensorflow extractor; no DataParallel (clean-fid #60)
        with warnings.catch_warnings():  # torch 2.14 deprecates torch.jit.load, which clean-fid uses
            warnings.filterwarnings('ignore', message='`torch.jit.load` is deprecated', category=FutureWarning)
            self.model = load_inception(weights_dir, mode).to(self.device).eval()
        self.resize = build_resizer(mode)  # identity for legacy_tensorflow, PIL bicubic 299 for clean
        self.name = f'inception-v3 (clean-fid {mode})'
        self.source = str(Path(weights_dir) / WEIGHTS_FILE)
        self._check_network()

    @torch.no_grad()
    def _check_network(self):
        """A cheap check that the file is clean-fid's Inception (a foreign TorchScript module loads as well): one
        small image gives (1, 2048) pool3 features, and its `output` head maps them to 1008 logits."""
        probe = torch.zeros((1, 3, PROBE_SIZE, PROBE_SIZE), dtype=torch.uint8)
        try:   # InceptionV3W's forward reshapes what the file returns to (1, 2048), or fails
            self.model(self._model_input(probe))
        except (RuntimeError, ValueError, TypeError, AttributeError, AssertionError):
            raise not_inception(self.source, f'it gives no {FEATURE_DIM} pool3 features for a test image') from None
        weight = getattr(getattr(self.model.base, 'output', None), 'weight', None)
        if weight is None or tuple(weight.shape) != (LOGIT_CLASSES, FEATURE_DIM):
            raise not_inception(self.source, f'it has no `output` layer of {FEATURE_DIM} features to '
                                             f'{LOGIT_CLASSES} logits')

    def _model_input(self, x):
        """uint8 (B, 3, H, W) → float32 [0, 255] on the device, as clean-fid hands it to InceptionV3W."""
        if self.mode == 'legacy_tensorflow':
            return x.to(self.device, torch.float32)
        # clean: clean-fid's ResizeDataset path — uint8 HWC image → fn_resize (float32 HWC) → CHW tensor
        resized = [torch.from_numpy(self.resize(img.transpose(1, 2, 0)).transpose(2, 0, 1).copy())
                   for img in x.cpu().numpy()]
        return torch.stack(resized).to(self.device, torch.float32)

    def _batches(self, images):
        if not hasattr(images, 'shape'):
            images = np.asarray(images)
        layout = _layout(tuple(images.shape))
        starts = range(0, len(images), self.batch_size)
        if self.progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc=f'Inception ({self.mode})', unit='batch')
        for i in starts:
            yield _to_uint8_nchw3(images[i:i + self.batch_size], layout)

    def _head_weight(self):
        base = self.model.base
        if not hasattr(base, 'output') or not hasattr(base.output, 'weight'):
            raise RuntimeError(f'the TorchScript Inception in {self.source} has no `output` classifier layer, '
                               'so it gives no logits and no Inception Score')
        return base.output.weight

    @torch.no_grad()
    def features_and_logits(self, images, logits=True):
        """One pass: pool3 features (N, 2048) float64 and, if asked, unbiased logits (N, 1008) float64."""
        weight = self._head_weight() if logits else None
        feats, outs = [], []
        for x in self._batches(images):
            f = self.model(self._model_input(x))
            feats.append(f.double().cpu())
            if logits:
                outs.append(torch.nn.functional.linear(f, weight).double().cpu())
        empty = torch.zeros((0, FEATURE_DIM), dtype=torch.float64)
        f = torch.cat(feats).numpy() if feats else empty.numpy()
        if not logits:
            return f, None
        return f, (torch.cat(outs).numpy() if outs else np.zeros((0, weight.shape[0])))

    def __call__(self, images):
        return self.features_and_logits(images, logits=False)[0]

    def logits(self, images):
        """Logits of the network's 1008-way head without its bias (softmax = its IS probabilities)."""
        return self.features_and_logits(images)[1]


def feature_statistics(features):
    """(mu, sigma) in float64: the mean and the unbiased covariance (np.cov), as clean-fid computes them."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f'features must be (N >= 2, D), got shape {f.shape}')
    return f.mean(0), np.cov(f, rowvar=False)


def save_statistics(path, mu, sigma, **meta):
    """Write an .npz with 'mu', 'sigma' (float64) and 'meta' (JSON) at exactly `path`."""
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f'mu must be (D,) and sigma (D, D), got {mu.shape} and {sigma.shape}')
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as f:  # a file object, so numpy does not append '.npz'
        np.savez(f, mu=mu, sigma=sigma, meta=np.array(json.dumps(meta, sort_keys=True)))


def load_statistics(path):
    """(mu, sigma, meta) from our .npz, or from any .npz with 'mu' and 'sigma' (guided-diffusion
    reference batches, clean-fid stats); meta is {} when the file has none."""
    with np.load(path, allow_pickle=False) as data:
        missing = {'mu', 'sigma'} - set(data.files)
        if missing:
            raise ValueError(f'{path} holds no FID statistics: it lacks {sorted(missing)}')
        meta = json.loads(str(data['meta'])) if 'meta' in data.files else {}
        return data['mu'].astype(np.float64), data['sigma'].astype(np.float64), meta


def _is_probabilities(x):
    return bool(((x >= 0) & (x <= 1)).all() and np.allclose(x.sum(1), 1, atol=1e-3))


def inception_score(logits_or_probs, splits=10, from_logits=None):
    """(mean, std) of exp(E_x KL(p(y|x) || p(y))) over `splits` consecutive splits (the improved-GAN
    and StyleGAN split rule, population std). from_logits=None tells probabilities (rows in [0, 1]
    summing to 1) from logits; the softmax is taken in float64."""
    from scipy.special import softmax, xlogy
    x = np.asarray(logits_or_probs, dtype=np.float64)
    if x.ndim != 2 or len(x) < splits or splits < 1:
        raise ValueError(f'need (N, classes) with N >= splits = {splits}, got shape {x.shape}')
    if from_logits is None:
        from_logits = not _is_probabilities(x)
    p = softmax(x, axis=1) if from_logits else x
    n, scores = len(p), []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
