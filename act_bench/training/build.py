"""Everything a run is built from its spec: generator and discriminator backbones (bundled-data nets
or the paper architectures named by a model entry), the loss object of its method, mixed precision,
parameter counts, and the trained generator of a run's final.pt. METHODS is the one map from a method
name to its loss class; everything else asks the loss (or its class) what it owns."""

import math
import warnings

import torch

from act_bench.runtime.errors import ConfigError
from act_bench.runtime.snapshots import NETWORK_KEYS
from act_bench.training.augment import AdaptiveAugmentController, Augment
from act_bench.training.loss import ACTLoss, CTLoss, ICTLoss
from act_bench.training.networks import (ConsistencyModel, Flattened, MLPDiscriminator, MLPGenerator,
                                         SigmaConditioned, UNetEncoderDiscriminator, UNetGenerator)

METHODS = {'ct': CTLoss, 'act': ACTLoss, 'ict': ICTLoss}

AUTOCAST_DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def mixed_precision(precision, device):
    """autocast arguments and a GradScaler (active for fp16 only) for one optimiser."""
    if precision == 'fp16' and device.type == 'cpu':
        warnings.warn('fp16 autocast on the CPU is very slow; use precision bf16 or fp32 there', stacklevel=2)
    autocast = dict(device_type=device.type, dtype=AUTOCAST_DTYPES[precision], enabled=precision != 'fp32')
    return autocast, torch.amp.GradScaler(device.type, enabled=precision == 'fp16')


def build_loss(method, kind, shape, model_spec, train, batch_size, augment, device, num_classes=None):
    """The loss object of `method` for data of `kind` (a DatasetKind: its clip range bounds the targets)."""
    loss_class = METHODS[method]
    distance = train['distance']
    if distance == 'lpips':
        from act_bench.training.lpips import LPIPSDistance
        distance = LPIPSDistance(train['lpips_weights'], device=device, **loss_class.lpips_variant)
    ct_kwargs = dict(distance=distance, sigma_min=train['sigma_min'], sigma_max=train['sigma_max'],
                     rho=train['rho'], clip_target=kind.clip,
                     sigma_sampling=train['sigma_sampling'], weighting=train['weighting'],
                     p_mean=train['p_mean'], p_std=train['p_std'])
    if not loss_class.traits.has_discriminator:
        return loss_class(**ct_kwargs)
    D = build_discriminator(shape, model_spec, train, num_classes).to(device)
    d_opt = torch.optim.RAdam(D.parameters(), lr=train['d_lr'], betas=tuple(train['d_betas']))
    controller = AdaptiveAugmentController(
        threshold=train['aug_threshold'], images_per_iteration=batch_size * loss_class.traits.data_per_generator_image,
        r1_interval=train['r1_interval'], ada_length=train['ada_length'], decay=train['aug_ema_decay'],
        enabled=augment == 'on')
    autocast, scaler = mixed_precision(train['precision'], device)
    if train['augment_pipeline'] == 'ada':
        from act_bench.training.ada import ADAPipeline
        augment_pipe = ADAPipeline()
    else:
        augment_pipe = Augment()
    return loss_class(D, d_opt, augment_pipe, controller, lambda_adv=train['lambda_adv'], w_mid=train['w_mid'],
                   r1_gamma=train['r1_gamma'], r1_interval=train['r1_interval'], autocast=autocast,
                   d_scaler=scaler, **ct_kwargs)



#----------------------------------------------------------------------------
# Networks from a model entry.

def paper_backbone(name, role):
    """'act-<config>' → the official ACT networks; 'ct-<config>' → the CT baselines' generators."""
    family, config = name.split('-', 1)
    if family == 'act':
        from act_bench.training import act_networks as paper_networks
        config = config.replace('lsun-cat256', 'lsun_cat256')
        build = paper_networks.build_paper_generator if role == 'generator' else \
            paper_networks.build_paper_discriminator
        return build(config)
    from act_bench.training.ct_networks import build_ct_generator
    return build_ct_generator(config)


def vector_data(shape):
    return len(shape) == 1


def small_network(shape, model, num_classes):
    """'mlp' or 'unet': `network: auto` gives samples of shape (D,) MLPs and images (C, H, W) UNets."""
    network = model.get('network', 'auto')
    if network == 'auto':
        return 'mlp' if vector_data(shape) else 'unet'
    if network == 'unet' and vector_data(shape):
        raise ConfigError(f'network: unet needs images, but this dataset gives vectors of shape {tuple(shape)}')
    if network == 'mlp' and num_classes:
        raise ConfigError('the small MLP networks are unconditional; use network: unet for class labels')
    return network


def mlp_network(cls, shape, model, keep_shape):
    net = cls(math.prod(shape), model['mlp_hidden'], model['mlp_layers'])
    return net if vector_data(shape) else Flattened(net, keep_shape)


def build_generator(shape, model, train, num_classes=None):
    if 'generator' in model:
        backbone = paper_backbone(model['generator'], 'generator')
    elif small_network(shape, model, num_classes) == 'mlp':
        backbone = mlp_network(MLPGenerator, shape, model, keep_shape=True)
    else:
        backbone = UNetGenerator(shape[-1], model['unet_channels'], in_channels=shape[0],
                                 layers_per_block=model['unet_layers_per_block'],
                                 norm_groups=model['norm_groups'], num_classes=num_classes)
    return ConsistencyModel(backbone, train['sigma_min'], train['sigma_max'], train['sigma_data'],
                            train['sigma_embedding'])


def build_discriminator(shape, model, train, num_classes=None):
    if 'generator' in model:
        if 'discriminator' not in model:
            raise ValueError(f"model {model['generator']} has no discriminator; ACT runs need one "
                             "(add 'discriminator: act-...' to the model entry)")
        backbone = paper_backbone(model['discriminator'], 'discriminator')
    elif small_network(shape, model, num_classes) == 'mlp':
        backbone = mlp_network(MLPDiscriminator, shape, model, keep_shape=False)
    else:
        backbone = UNetEncoderDiscriminator(model['disc_channels'], in_channels=shape[0],
                                            layers_per_block=model['disc_layers_per_block'],
                                            norm_groups=model['norm_groups'], num_classes=num_classes)
    return SigmaConditioned(backbone, train['sigma_embedding'])


def count_parameters(module):
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def parameter_counts(dataset_spec, model, train, with_discriminator):
    """Generator and discriminator sizes, and the totals for training (G + D) and inference (G)."""
    from act_bench.data.bundled import dataset_info
    shape, classes = dataset_info(dataset_spec)
    g = count_parameters(build_generator(shape, model, train, classes))
    d = count_parameters(build_discriminator(shape, model, train, classes)) \
        if with_discriminator else 0
    return {'generator': g, 'discriminator': d, 'training_total': g + d, 'inference_total': g}


def load_generator(config, run, final_path, device='cpu'):
    """The network the run evaluates (`run.network`: ema, target or online) from its final.pt or a
    snapshot, and the file's other entries with `network` naming it."""
    state = torch.load(final_path, map_location=device, weights_only=True)
    key = NETWORK_KEYS[run.network]
    if key not in state:
        raise ConfigError(f'{final_path} holds no {run.network} network (it was written for evaluating '
                          f"{state.get('network', 'another network')}); rerun the training of {run.path}")
    net = build_generator(tuple(state['shape']), config['models'][run.model], run.train, state.get('num_classes'))
    net.load_state_dict(state[key])
    return net.eval().requires_grad_(False), {**state, 'network': run.network}


