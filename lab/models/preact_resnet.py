"""Pre-activation ResNet-18/34 (He et al., "Identity mappings", 2016) for 32x32 inputs:
a 3x3 stem, four stages of 64/128/256/512 channels, BN-ReLU before each convolution,
1x1 projection shortcuts, a final BN-ReLU (about 11.2M / 21.3M parameters)."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, plus the input (1x1 projection when the
    shape changes). Dropout between the convolutions is the Wide ResNet's place for it."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        short = self.proj(out) if self.proj is not None else x
        out = self.conv1(out)
        out = self.conv2(self.drop(F.relu(self.bn2(out))))
        return out + short


class PreActResNet(nn.Module):
    """``blocks`` per stage: (2, 2, 2, 2) = ResNet-18, (3, 4, 6, 3) = ResNet-34;
    ``dropout`` before the classifier."""

    def __init__(self, blocks: tuple, num_classes: int, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        layers, cin = [], 64
        for stage, (cout, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            for i in range(n):
                layers.append(PreActBlock(cin, cout, 2 if stage and i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(512)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn(self.layers(self.conv(x))))
        return self.fc(self.drop(F.adaptive_avg_pool2d(out, 1).flatten(1)))
