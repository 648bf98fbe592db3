"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis, 2016): (d-4)/6 pre-activation blocks per
stage, 16k/32k/64k channels, dropout between the two convolutions of a block (the
paper's place for it). WRN-40-2 has about 2.2M parameters, WRN-16-2 about 0.7M."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from .preact_resnet import PreActBlock


class WideResNet(nn.Module):
    """WRN-``depth``-``width``; ``depth`` must be 6n+4."""

    def __init__(self, depth: int, width: int, num_classes: int, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4 (16, 22, 28, 40), not {depth}")
        n = (depth - 4) // 6
        self.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        blocks, cin = [], 16
        for stage, cout in enumerate((16 * width, 32 * width, 64 * width)):
            for i in range(n):
                blocks.append(PreActBlock(cin, cout, 2 if stage and i == 0 else 1, dropout))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        out = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))
