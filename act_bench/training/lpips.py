"""LPIPS consistency distance d(online, target), as the CT and ACT papers use it, loaded offline.

Library and files
-----------------
The distance is piq 0.8.0's LPIPS (the version the official ACT code pins), i.e. piq's
``ContentLoss`` with exactly the arguments ``piq.LPIPS.__init__`` passes to it: torchvision VGG16
``features``, layers relu1_2/relu2_2/relu3_3/relu4_3/relu5_3, ImageNet mean/std input
normalisation, features unit-normalised along channels, squared difference ('mse'), multiplied by
the LPIPS-v0.1 linear weights, spatial mean, sum over channels and layers, ``reduction='none'``.

``piq.LPIPS`` itself cannot be used offline: its constructor downloads both files (through
``torch.hub.load_state_dict_from_url`` and ``torchvision.models.vgg16(pretrained=True)``).  So this
module builds the same ``piq.ContentLoss`` from a VGG16 ``features`` stack whose weights it loads
from ``weights_dir``; nothing is ever downloaded.  ``weights_dir`` must hold

* ``vgg16-397923af.pth`` -- torchvision's ImageNet VGG16 (``VGG16_Weights.IMAGENET1K_V1``),
  https://download.pytorch.org/models/vgg16-397923af.pth (528 MB; only the ``features.*``
  tensors are used).  A machine that has run torchvision with weights already has it in
  ``$TORCH_HOME/hub/checkpoints/`` (default ``~/.cache/torch/hub/checkpoints/``).
* ``lpips_weights.pt`` -- piq's LPIPS-v0.1 VGG linear weights (a sequence of five tensors, one per
  layer, of C = 64, 128, 256, 512, 512 values, broadcast as [1, C, 1, 1] -- as piq's code uses it),
  https://github.com/photosynthesis-team/photosynthesis.metrics/releases/download/v0.4.0/lpips_weights.pt
  (the URL in ``piq.LPIPS._weights_url``).  richzhang's original file (the ``lpips`` package's
  ``lpips/weights/v0.1/vgg.pth``, a state dict with keys ``lin{0..4}.model.1.weight``) is
  accepted under this name too.

To fetch them on a machine with internet::

    mkdir -p DIR && cd DIR
    wget https://download.pytorch.org/models/vgg16-397923af.pth
    wget https://github.com/photosynthesis-team/photosynthesis.metrics/releases/download/v0.4.0/lpips_weights.pt

Behaviour (act-spec.md section 2.3, ct-spec.md section 6 "Distance d")
--------------------------------------------------------------------
* the target is clipped to [-1, 1] (ACT; ``clip_target=False`` for CM, which does not clip);
* both images are mapped from [-1, 1] to [0, 1] with (x + 1) / 2 (the online one is not clipped);
* grayscale images (C = 1) are repeated to 3 channels;
* both are bilinearly resized (``F.interpolate(mode='bilinear')``, align_corners=False, no
  antialias) to ``resize`` x ``resize`` = 224 x 224, always (ACT, also a downsample for LSUN 256).
  CM resizes only when the width is below 256: ``resize_only_below=256``.  ``resize=None`` skips it;
* VGG max-pooling (ACT, ``replace_pooling=False``); CM uses ``replace_pooling=True`` (avg-pool);
* the VGG is frozen (requires_grad False, eval mode); gradients flow to ``online`` (and to
  ``target`` if it requires grad -- the training loop makes it under no_grad);
* one distance per sample, shape [B].
"""

import os
import pickle

import torch
import torch.nn.functional as F

VGG16_FILE = 'vgg16-397923af.pth'
VGG16_URL = 'https://download.pytorch.org/models/vgg16-397923af.pth'
LPIPS_FILE = 'lpips_weights.pt'
LPIPS_URL = ('https://github.com/photosynthesis-team/photosynthesis.metrics/releases/download/'
             'v0.4.0/lpips_weights.pt')

# the layers piq.LPIPS uses, as indices into torchvision's vgg16().features
LPIPS_LAYERS = {'relu1_2': '3', 'relu2_2': '8', 'relu3_3': '15', 'relu4_3': '22', 'relu5_3': '29'}
LPIPS_CHANNELS = (64, 128, 256, 512, 512)

_DESCRIPTIONS = {VGG16_FILE: ('the VGG16 weights file', VGG16_URL),
                 LPIPS_FILE: ('the LPIPS-v0.1 linear weights file', LPIPS_URL)}


class WeightsMissing(FileNotFoundError):
    """A weights file LPIPSDistance needs is not in weights_dir (the message says which and where)."""


def _check_files(weights_dir):
    """Raise WeightsMissing (one sentence) unless both files are in weights_dir; return their paths."""
    names = (VGG16_FILE, LPIPS_FILE)
    missing = [n for n in names
               if weights_dir is None or not os.path.isfile(os.path.join(weights_dir, n))]
    if missing:
        what = ' and '.join(f'{_DESCRIPTIONS[n][0]} {n}' for n in missing)
        urls = ' and '.join(_DESCRIPTIONS[n][1] for n in missing)
        it = 'it' if len(missing) == 1 else 'them'
        if weights_dir is None:
            raise WeightsMissing(f'LPIPS needs {what} but was given no folder for {it}; download '
                                 f'{it} from {urls} into a folder and set lpips_weights in the '
                                 'config to that folder.')
        raise WeightsMissing(f'LPIPS needs {what} in {os.fspath(weights_dir)}; download {it} from '
                             f'{urls} and put {it} there (set lpips_weights in the config to that '
                             'folder).')
    return [os.path.join(weights_dir, n) for n in names]


def _load(path, trusted_pickle=False):
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        if not trusted_pickle:
            raise
        # piq itself unpickles lpips_weights.pt in full (torch.hub's default weights_only=False)
        return torch.load(path, map_location='cpu', weights_only=False)


def _vgg16_features_state(state, path):
    """The VGG16 ``features`` tensors from a torchvision vgg16 state dict (or a features-only one)."""
    if not isinstance(state, dict):
        raise ValueError(f'{path} is not a VGG16 state dict (got {type(state).__name__}).')
    feats = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
    return feats if feats else dict(state)


def _linear_weights(obj, path):
    """The five LPIPS linear weights as [1, C, 1, 1] tensors, from piq's list or richzhang's dict."""
    if isinstance(obj, dict):
        keys = [f'lin{k}.model.1.weight' for k in range(5)]
        if not all(k in obj for k in keys):
            raise ValueError(f'{path} has neither piq\'s list of five tensors nor the keys {keys}.')
        obj = [obj[k] for k in keys]
    obj = list(obj)
    if len(obj) != 5 or any(torch.as_tensor(w).numel() != c for w, c in zip(obj, LPIPS_CHANNELS)):
        raise ValueError(f'{path} does not hold five LPIPS weight tensors with {LPIPS_CHANNELS} '
                         'channels.')
    return [torch.as_tensor(w, dtype=torch.float32).detach().reshape(1, c, 1, 1).clone()
            for w, c in zip(obj, LPIPS_CHANNELS)]


class LPIPSDistance(torch.nn.Module):
    """Per-sample LPIPS(VGG16) distance between images in [-1, 1], piq 0.8.0, weights from disk.

    Args:
        weights_dir: folder holding ``vgg16-397923af.pth`` and ``lpips_weights.pt`` (see the
            module docstring for their sources); both are checked before anything is built, and
            a missing one raises :class:`WeightsMissing`.  Nothing is downloaded.
        resize: side of the bilinear resize (224 as in the papers); None for no resize.
        clip_target: clip the target to [-1, 1] first (ACT: True; CM: False).
        device: where the VGG lives.
        resize_only_below: if set, resize only images whose width is below it (CM: 256); None
            resizes always (ACT).
        replace_pooling: piq's avg-pool VGG (CM: True); False keeps max-pooling (ACT, piq default).

    Calling it with ``(online, target)``, both [B, C, H, W] with C in {1, 3}, returns [B].
    """

    def __init__(self, weights_dir, resize=224, clip_target=True, device='cpu', *,
                 resize_only_below=None, replace_pooling=False):
        super().__init__()
        vgg_path, lin_path = _check_files(weights_dir)
        # load everything before building anything, so a bad file fails fast
        vgg_state = _vgg16_features_state(_load(vgg_path), vgg_path)
        lin = _linear_weights(_load(lin_path, trusted_pickle=True), lin_path)

        from piq import ContentLoss  # piq's import is slow; defer it past the file checks
        from piq.perceptual import IMAGENET_MEAN, IMAGENET_STD
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs['D'], batch_norm=False)  # = torchvision vgg16().features
        features.load_state_dict(vgg_state, strict=True)
        # exactly what piq.LPIPS(replace_pooling, reduction='none') builds, minus the downloads
        self.lpips = ContentLoss(features, layers=list(LPIPS_LAYERS.values()), weights=lin,
                                 replace_pooling=replace_pooling, distance='mse',
                                 reduction='none', mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                 normalize_features=True)
        self.lpips.model.requires_grad_(False)
        self.resize = resize
        self.clip_target = clip_target
        self.resize_only_below = resize_only_below
        self.replace_pooling = replace_pooling
        self.to(device)
        self.eval()

    def train(self, mode=True):
        """The VGG stays in eval mode whatever the caller asks."""
        return super().train(False)

    def _prepare(self, x):
        x = (x + 1) / 2
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            raise ValueError(f'LPIPS needs 1 or 3 channels, got {x.shape[1]}.')
        if self.resize is not None and (self.resize_only_below is None
                                        or x.shape[-1] < self.resize_only_below):
            x = F.interpolate(x, size=(self.resize, self.resize), mode='bilinear')
        return x

    def forward(self, online, target):
        if online.shape != target.shape or online.dim() != 4:
            raise ValueError(f'expected two [B, C, H, W] tensors of one shape, got '
                             f'{tuple(online.shape)} and {tuple(target.shape)}.')
        if self.clip_target:
            target = target.clamp(-1, 1)
        return self.lpips(self._prepare(online), self._prepare(target))
