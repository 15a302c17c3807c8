"""The `airbench-step` scenario in PyTorch: one training step of airbench94's network
(Keller Jordan's fast CIFAR-10 recipe), the peer our convolution layers are measured
against.

    conv 2×2, 3→24, no padding (31×31 out), bias      -- a frozen "whitening" layer
    GELU
    block(24→64), block(64→256), block(256→256), where
      block(ci→co) = conv3×3 ci→co 'same' → maxpool 2 → batchnorm → GELU
                     → conv3×3 co→co 'same' → batchnorm → GELU
    maxpool 3 → flatten → linear 256→10 (no bias)

A step is the loss (cross-entropy), its backward pass and a plain SGD update, at batch
512 on random f32 images. oneDNN runs it faster in channels-last than in NCHW on some
machines and not others, so both layouts are timed and the faster one is reported, as
a user tuning the step would keep it. GELU is PyTorch's default, the exact erf form.
"""

import sys

BATCH, QUICK_BATCH = 512, 16
# Timed steps per layout, after one untimed step (oneDNN picks and caches its kernels then).
STEPS, QUICK_STEPS = 2, 1
WIDTHS = (64, 256, 256)


def airbench_layers():
    """The network as (kind, c_in, c_out, kernel, side_in) for every product layer,
    with the side of the image each one sees (32×32 in)."""
    layers = [("conv", 3, 24, 2, 32)]
    side, c = 31, 24
    for w in WIDTHS:
        layers.append(("conv", c, w, 3, side))
        side //= 2
        layers.append(("conv", w, w, 3, side))
        c = w
    layers.append(("linear", c, 10, 1, 1))
    return layers


def airbench_flops(images):
    """Multiply-add FLOPs of a training step: 3× the forward (forward, backward-data,
    backward-weights), about 236 MFLOP forward per image."""
    forward = 0.0
    for kind, ci, co, k, side in airbench_layers():
        out = side - k + 1 if (kind == "conv" and k == 2) else side
        forward += 2.0 * ci * k * k * co * out * out
    return 3.0 * forward * images


def airbench_net(torch):
    nn = torch.nn

    def block(ci, co):
        return [
            nn.Conv2d(ci, co, 3, padding="same", bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(co),
            nn.GELU(),
            nn.Conv2d(co, co, 3, padding="same", bias=False),
            nn.BatchNorm2d(co),
            nn.GELU(),
        ]

    whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
    whiten.requires_grad_(False)
    layers = [whiten, nn.GELU()]
    c = 24
    for w in WIDTHS:
        layers += block(c, w)
        c = w
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(c, 10, bias=False)]
    return nn.Sequential(*layers)


def time_layout(torch, memory_format, batch, steps, timed):
    """Seconds for `steps` training steps of a fresh network in `memory_format`."""
    torch.manual_seed(0)
    net = airbench_net(torch).to(memory_format=memory_format)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch,))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01)

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    _, seconds = timed(lambda: [step() for _ in range(steps)])
    return seconds


def airbench_step(torch, ctx, timed):
    """The scenario's result: the faster layout's time, and both layouts' seconds per
    step in its `note` (the harness shows it beside the peer's figure)."""
    batch, steps = (QUICK_BATCH, QUICK_STEPS) if ctx.quick else (BATCH, STEPS)
    layouts = {
        "channels_last": torch.channels_last,
        "nchw": torch.contiguous_format,
    }
    seconds = {name: time_layout(torch, fmt, batch, steps, timed) for name, fmt in layouts.items()}
    best = min(seconds, key=seconds.get)
    print(
        "airbench-step: " + ", ".join(f"{k} {v / steps:.3f} s/step" for k, v in seconds.items()),
        file=sys.stderr,
    )
    images = batch * steps
    return dict(
        seconds=seconds[best],
        images=images,
        flops=airbench_flops(images),
        note=f"{best}; " + ", ".join(f"{k} {v / steps:.2f} s/step" for k, v in seconds.items()),
    )
