"""Vision Transformer (Dosovitskiy et al., 2021), mmpretrain-shaped, sized for small images.

Pre-norm encoder layers; attention through ``F.scaled_dot_product_attention``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate import BACKBONES, BaseModule
from ablate_components.layers import DropPath, check_out_indices

OUT_TYPES = ("featmap", "cls_token", "avg_featmap")


class Attention(nn.Module):
    """Multi-head self-attention: (N, L, C) -> (N, L, C)."""

    def __init__(
        self, dims: int, num_heads: int, qkv_bias: bool, attn_drop: float, proj_drop: float
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dims, dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(dims, dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        n, length, c = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (N, heads, L, C / heads)
        drop = self.attn_drop if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(n, length, c)))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(ln(x)), then x + mlp(ln(x)). (N, L, C) -> same."""

    def __init__(
        self,
        dims: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_rate: float,
        attn_drop_rate: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        hidden = int(dims * mlp_ratio)
        self.ln1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = Attention(dims, num_heads, qkv_bias, attn_drop_rate, drop_rate)
        self.ln2 = nn.LayerNorm(dims, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dims, hidden),
            nn.GELU(),
            nn.Dropout(drop_rate),
            nn.Linear(hidden, dims),
            nn.Dropout(drop_rate),
        )
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return x + self.drop_path(self.mlp(self.ln2(x)))


@BACKBONES.register_module()
class VisionTransformer(BaseModule):
    """ViT: non-overlapping patches -> linear embedding + position embedding -> encoder.

    Args:
        img_size: Input size, an int (square) or ``[H, W]``; each must divide by ``patch_size``.
        patch_size: Side of a square patch (2 or 4 for 8x8 digits, 4 for 32x32 CIFAR).
        in_channels: Input image channels.
        embed_dims: Token width C; must divide by ``num_heads``.
        num_layers: Encoder layers.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width as a multiple of ``embed_dims``.
        qkv_bias: Bias in the query/key/value projection.
        drop_rate: Dropout after the position embedding, attention projection and MLP.
        attn_drop_rate: Dropout on the attention weights.
        drop_path_rate: Stochastic depth, rising linearly from 0 to this over the layers.
        with_cls_token: Prepend a learnable class token.
        out_type: ``featmap`` (patch tokens as a map, for the pooling necks),
            ``cls_token`` (needs ``with_cls_token``) or ``avg_featmap`` (mean patch token).
        final_norm: LayerNorm after the last layer.
        out_indices: Layers to return; negative indices count from the last layer.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        inputs (N, in_channels, H, W) -> tuple, one per ``out_indices``, of
        (N, embed_dims, H / patch_size, W / patch_size) for ``featmap``, or
        (N, embed_dims) for ``cls_token`` and ``avg_featmap``.
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        embed_dims: int = 192,
        num_layers: int = 6,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        with_cls_token: bool = True,
        out_type: Literal["featmap", "cls_token", "avg_featmap"] = "cls_token",
        final_norm: bool = True,
        out_indices: Sequence[int] = (-1,),
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if len(size) != 2 or any(s < 1 for s in size):
            raise ValueError(f"img_size must be an int or [H, W], got {img_size!r}")
        if patch_size < 1 or any(s % patch_size for s in size):
            raise ValueError(f"img_size {list(size)} must divide by patch_size {patch_size}")
        if embed_dims < 1 or num_heads < 1 or embed_dims % num_heads:
            raise ValueError(f"embed_dims {embed_dims} must divide by num_heads {num_heads}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if out_type not in OUT_TYPES:
            raise ValueError(f"out_type must be one of {OUT_TYPES}, got {out_type!r}")
        if out_type == "cls_token" and not with_cls_token:
            raise ValueError("out_type 'cls_token' needs with_cls_token: true")
        for name, rate in (("drop_rate", drop_rate), ("attn_drop_rate", attn_drop_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.img_size = size
        self.grid = (size[0] // patch_size, size[1] // patch_size)
        self.out_type = out_type
        self.with_cls_token = with_cls_token
        self.out_indices = check_out_indices(out_indices, num_layers, "layers")
        self.patch_embed = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)
        num_tokens = self.grid[0] * self.grid[1] + int(with_cls_token)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims)) if with_cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.layers = nn.ModuleList(
            EncoderLayer(embed_dims, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, r)
            for r in rates
        )
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6) if final_norm else nn.Identity()
        self.out_channels = [embed_dims] * num_layers  # per layer, as ResNet's per stage
        self._default_init()

    def _default_init(self) -> None:
        # timm/mmpretrain defaults: without the small std, training from scratch is unstable.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.layers.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _format(self, x: Tensor) -> Tensor:
        if self.out_type == "cls_token":
            return x[:, 0]
        patches = x[:, 1:] if self.with_cls_token else x
        if self.out_type == "avg_featmap":
            return patches.mean(dim=1)
        n, _, c = patches.shape
        return patches.transpose(1, 2).reshape(n, c, *self.grid)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 4 or tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"VisionTransformer built for img_size {list(self.img_size)} expects "
                f"(N, C, {self.img_size[0]}, {self.img_size[1]}) inputs, got {tuple(x.shape)}"
            )
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, h*w, C)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.drop_after_pos(x + self.pos_embed)
        outs = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self._format(x))
        return tuple(outs)
