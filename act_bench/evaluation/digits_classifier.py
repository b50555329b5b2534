"""Feature extractors for Fréchet distances. On bundled digits: a small CNN classifier trained on
the digits training split (`fd_digits`). Inception (FID) plugs into the same interface later."""

import numpy as np
import torch
from torch import nn


class DigitsClassifier(nn.Module):
    def __init__(self, feature_dim=32, n_classes=10, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.SiLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.SiLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, feature_dim), nn.SiLU())
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


def train_digits_classifier(train_x, train_y, eval_x, eval_y, iterations, batch_size, lr, feature_dim, seed):
    torch.manual_seed(seed)
    model = DigitsClassifier(feature_dim, in_channels=train_x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(train_x), torch.as_tensor(train_y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        idx = torch.randint(len(x), (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(torch.as_tensor(eval_x)).argmax(1) == torch.as_tensor(eval_y)).float().mean().item()
    return model, accuracy


def save_classifier(model, accuracy, path):
    torch.save({'state_dict': model.state_dict(), 'feature_dim': model.head.in_features,
                'in_channels': model.features[0].in_channels, 'eval_accuracy': accuracy}, path)


def write_classifier(config, data_path, out):
    """Train the digits feature extractor on a prepared dataset with evaluation.classifier; returns its
    held-out accuracy."""
    from act_bench.data.bundled import load_dataset
    data = load_dataset(data_path)
    c = config['evaluation']['classifier']
    model, accuracy = train_digits_classifier(data['train'], data['train_labels'], data['eval'], data['eval_labels'],
                                              c['iterations'], c['batch_size'], c['lr'], c['feature_dim'], c['seed'])
    save_classifier(model, accuracy, out)
    return accuracy


class ClassifierFeatures:
    """Callable: images in [−1, 1] (N, C, H, W) → penultimate-layer features (N, feature_dim)."""

    name = 'digits-classifier'

    def __init__(self, path):
        state = torch.load(path, map_location='cpu', weights_only=True)
        self.model = DigitsClassifier(state['feature_dim'], in_channels=state['in_channels'])
        self.model.load_state_dict(state['state_dict'])
        self.model.eval()
        self.source = str(path)
        self.eval_accuracy = state['eval_accuracy']

    @torch.no_grad()
    def __call__(self, images, batch_size=500):
        images = torch.as_tensor(np.asarray(images, dtype=np.float32))
        return torch.cat([self.model.features(images[i:i + batch_size])
                          for i in range(0, len(images), batch_size)]).double().numpy()

