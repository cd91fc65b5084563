#!/usr/bin/env python3
"""PyTorch peer of deepbmc's Study 1 network, for CPU throughput benchmarks.

Implements the hierarchical invariant network of Elsemueller et al. (2024),
Study 1 (nested hierarchical normal models), in the layout of BayesFlow and of
deepbmc's C++ core (src/network_spec.cpp, src/deepset.h, src/network.cpp):

  level 1 (observations within a group) and level 2 (groups within a data set)
  are DeepSets, each
    2 x EquivariantModule:  x_i -> s3(concat[x_i, InvariantModule(x)])
    1 x InvariantModule:    x   -> s2(mean_i s1(x_i))
    a linear summary layer of width summary_dim
  with s1 = 8 / 32, s2 = 32 / 128, s3 = 16 / 64, summary_dim = 10 / 10 and two
  dense ELU layers in every stack s1, s2, s3; the equivariant modules hold
  invariant modules of their own with the same s1 / s2 widths;
  head: [level-2 summary, sqrt(obs per group), sqrt(groups)] -> 3 x 64 ELU ->
  linear -> 2 logits.

Weights are Glorot-normal in Keras' truncated form (normal truncated at two
standard deviations, sd widened by 1 / 0.8796256610342398 so that the
truncated draws keep variance 2 / (fan_in + fan_out)), biases zero. Training is
online: every step simulates a fresh batch of 32 data sets (model of slot b is
b % 2, so batches are balanced), mean cross-entropy, gradients clipped to a
global L2 norm of 1, Adam (beta 0.9 / 0.999, eps 1e-7) with the learning rate
decaying from 5e-4 to 0 along a cosine over all steps.

Data sets have fixed sizes (L groups x N observations) and are float32 tensors
shaped (batch, groups, obs, 1), so set pooling is a plain mean over an axis.

Usage:
  python3 bench/torch_reference.py --threads 2 --steps 200 --infer 5000 \
      --groups 50 --obs 50 [--accuracy-steps N] [--mix concat|broadcast]

Prints one line of JSON. Training time includes the per-step simulation, as
in deepbmc's trainer; inference is timed on pre-simulated data sets (network
only) and with simulation included.

Checked against deepbmc 0.1.0: both networks have 116,766 parameters, and with
deepbmc's trained weights loaded into this module (flat vector, each layer's W
(in x out, row-major) then b, in the order the modules are built here) the log
posterior model probabilities agree to 3e-7. The initial weights follow the
same law but come from torch's RNG, so they are not the same numbers. Two
small differences in the optimiser: clip_grad_norm_ divides by (norm + 1e-6),
deepbmc by the norm; Adam's update (lr / (1 - beta1^t) * m / (sqrt(v) /
sqrt(1 - beta2^t) + eps)) is the same formula in both.

torch's matrix products run in the BLAS that libtorch is linked against
(Debian: whatever libblas.so.3 points to, the unthreaded reference BLAS unless
OpenBLAS is installed); the "blas" field says which one was loaded. To use
OpenBLAS without changing the system's BLAS, point LD_LIBRARY_PATH at a
directory holding OpenBLAS's libblas.so.3 (e.g. unpacked from
libopenblas0-openmp with dpkg -x). ATen parallelises with OpenMP; where other
processes keep the cores busy, its spinning worker threads can make two
threads far slower than one, which OMP_WAIT_POLICY=PASSIVE (set in the
environment before torch loads) avoids.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Keras' TruncatedNormal keeps draws within two standard deviations; this is
# the standard deviation of a unit normal truncated there.
TRUNCATION_CORRECTION = 0.87962566103423978


def glorot_normal_truncated_(linear):
    fan_in, fan_out = linear.in_features, linear.out_features
    sd = math.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATION_CORRECTION
    with torch.no_grad():
        nn.init.trunc_normal_(linear.weight, mean=0.0, std=sd, a=-2.0 * sd, b=2.0 * sd)
        nn.init.zeros_(linear.bias)


def dense_stack(n_in, width, depth):
    """depth dense layers of the given width; the activation is applied by the caller."""
    return nn.ModuleList(nn.Linear(n_in if i == 0 else width, width) for i in range(depth))


def run_stack(layers, h):
    for layer in layers:
        h = F.elu(layer(h))
    return h


class InvariantModule(nn.Module):
    """(..., n, d) -> (..., s2): s2(mean over the set axis -2 of s1(x))."""

    def __init__(self, n_in, s1, s2, n_dense):
        super().__init__()
        self.inner = dense_stack(n_in, s1, n_dense)
        self.outer = dense_stack(s1, s2, n_dense)

    def forward(self, x):
        return run_stack(self.outer, run_stack(self.inner, x).mean(dim=-2))


class EquivariantModule(nn.Module):
    """(..., n, d) -> (..., n, s3): s3(concat[x_i, InvariantModule(x)]).

    mix="concat" builds the concatenation as BayesFlow does; mix="broadcast"
    computes the same first layer as x_i W_x + (pooled W_p + b), the
    factorisation deepbmc's C++ uses (broadcast_dense_forward). Both have the
    same parameters and give the same output up to rounding.
    """

    def __init__(self, n_in, s1, s2, s3, n_dense, mix):
        super().__init__()
        self.n_in = n_in
        self.mix_mode = mix
        self.pooled = InvariantModule(n_in, s1, s2, n_dense)
        self.mix = dense_stack(n_in + s2, s3, n_dense)

    def forward(self, x):
        pooled = self.pooled(x)  # (..., s2)
        first = self.mix[0]
        if self.mix_mode == "concat":
            rep = pooled.unsqueeze(-2).expand(*x.shape[:-1], pooled.shape[-1])
            h = F.elu(first(torch.cat([x, rep], dim=-1)))
        else:
            w_x = first.weight[:, : self.n_in]
            w_p = first.weight[:, self.n_in:]
            per_set = F.linear(pooled, w_p, first.bias).unsqueeze(-2)
            h = F.elu(F.linear(x, w_x) + per_set)
        return run_stack(self.mix[1:], h)


class DeepSetLevel(nn.Module):
    """(..., n, d) -> (..., summary_dim): equivariant modules, invariant module, linear summary."""

    def __init__(self, n_in, s1, s2, s3, summary_dim, n_dense, n_equivariant, mix):
        super().__init__()
        modules = []
        width = n_in
        for _ in range(n_equivariant):
            modules.append(EquivariantModule(width, s1, s2, s3, n_dense, mix))
            width = s3
        self.equivariant = nn.ModuleList(modules)
        self.invariant = InvariantModule(width, s1, s2, n_dense)
        self.summary = nn.Linear(s2, summary_dim)

    def forward(self, x):
        for module in self.equivariant:
            x = module(x)
        return self.summary(self.invariant(x))


class HierarchicalNetwork(nn.Module):
    """x (batch, groups, obs, input_dim) -> logits (batch, n_models)."""

    def __init__(self, input_dim=1, n_models=2, s1=(8, 32), s2=(32, 128), s3=(16, 64),
                 summary_dim=(10, 10), n_dense=2, n_equivariant=2, head_units=64,
                 head_layers=3, mix="concat"):
        super().__init__()
        levels = []
        width = input_dim
        for k in range(len(s1)):
            levels.append(DeepSetLevel(width, s1[k], s2[k], s3[k], summary_dim[k], n_dense,
                                       n_equivariant, mix))
            width = summary_dim[k]
        self.levels = nn.ModuleList(levels)
        head_in = summary_dim[-1] + len(s1)
        self.head = dense_stack(head_in, head_units, head_layers)
        self.logits = nn.Linear(head_units if head_layers > 0 else head_in, n_models)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                glorot_normal_truncated_(module)

    def forward(self, x):
        # Set sizes of each level, innermost first (fixed sizes: the tensor's
        # axes); the head gets sqrt(mean set size) per level, as deepbmc does.
        sizes = [x.shape[-2 - k] for k in range(len(self.levels))]
        h = x
        for level in self.levels:
            h = level(h)
        direct = h.new_tensor([math.sqrt(n) for n in sizes]).expand(h.shape[0], len(sizes))
        h = run_stack(self.head, torch.cat([h, direct], dim=-1))
        return self.logits(h)


def simulate(model, groups, obs, generator):
    """Study 1 data sets: model (batch,) of 0 / 1 -> x (batch, groups, obs, 1) float32.

    x_ln ~ N(theta_l, sigma^2), theta_l ~ N(mu, tau^2), sigma^2 and tau^2 ~
    Half-Normal(0, 1) on the variances, mu = 0 (M0) or mu ~ N(0, 1) (M1).
    """
    b = model.shape[0]
    z = torch.randn(b, 3, generator=generator)
    sigma = z[:, 0].abs().sqrt()
    tau = z[:, 1].abs().sqrt()
    mu = torch.where(model == 1, z[:, 2], torch.zeros_like(z[:, 2]))
    theta = mu[:, None] + tau[:, None] * torch.randn(b, groups, generator=generator)
    x = theta[:, :, None] + sigma[:, None, None] * torch.randn(b, groups, obs,
                                                               generator=generator)
    return x.unsqueeze(-1)


class OnlineTrainer:
    """Adam with cosine decay to 0 over total_steps, global-norm clipping at 1."""

    def __init__(self, net, total_steps, batch_size=32, learning_rate=5e-4, groups=50, obs=50,
                 seed=1):
        self.net = net
        self.batch_size = batch_size
        self.groups, self.obs = groups, obs
        self.optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate,
                                          betas=(0.9, 0.999), eps=1e-7)
        total = max(1, total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / total))))
        self.models = torch.arange(batch_size) % 2
        self.generator = torch.Generator().manual_seed(seed)

    def step(self):
        x = simulate(self.models, self.groups, self.obs, self.generator)
        logits = self.net(x)
        loss = F.cross_entropy(logits, self.models)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item()


def loaded_blas():
    """Path of the BLAS library this process loaded (Linux), e.g. to tell
    Debian's reference BLAS from OpenBLAS; torch's matrix products run in it."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return "unknown"
    blas = sorted(p for p in paths if "blas" in p.lower() or "mkl" in p.lower())
    return ";".join(blas) if blas else "none"


def simulate_holdout(n, groups, obs, seed):
    generator = torch.Generator().manual_seed(seed)
    model = torch.randint(0, 2, (n,), generator=generator)
    return simulate(model, groups, obs, generator), model


def predict(net, x, batch):
    with torch.inference_mode():
        return torch.cat([net(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--infer", type=int, default=5000, help="data sets for inference timing")
    # Small inference batches keep each layer's activations in cache: on a
    # 2-core Xeon, 32 data sets per forward ran about twice as fast as 500.
    parser.add_argument("--infer-batch", type=int, default=32)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--obs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--accuracy-steps", type=int, default=0,
                        help="also train a fresh network this many steps and report its "
                             "held-out accuracy")
    parser.add_argument("--holdout", type=int, default=5000)
    parser.add_argument("--mix", choices=["concat", "broadcast"], default="concat",
                        help="first equivariant layer as BayesFlow's concat or deepbmc's "
                             "factorised form")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    groups, obs = args.groups, args.obs

    net = HierarchicalNetwork(mix=args.mix)
    n_params = sum(p.numel() for p in net.parameters())

    # Training throughput: warm-up steps, then `steps` timed steps, each
    # simulating a fresh batch (as deepbmc does). The cosine runs over all.
    trainer = OnlineTrainer(net, args.warmup + args.steps, args.batch_size, groups=groups,
                            obs=obs, seed=args.seed)
    for _ in range(args.warmup):
        trainer.step()
    started = time.perf_counter()
    for _ in range(args.steps):
        trainer.step()
    train_seconds = time.perf_counter() - started
    train_rate = args.steps * args.batch_size / train_seconds

    # Inference: network only on pre-simulated data sets, then simulation
    # included (simulate each batch, then predict it).
    net.eval()
    x, _ = simulate_holdout(args.infer, groups, obs, args.seed + 1)
    predict(net, x[: args.infer_batch], args.infer_batch)  # warm-up
    started = time.perf_counter()
    predict(net, x, args.infer_batch)
    infer_seconds = time.perf_counter() - started
    del x
    generator = torch.Generator().manual_seed(args.seed + 2)
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, args.infer, args.infer_batch):
            n = min(args.infer_batch, args.infer - i)
            model = torch.randint(0, 2, (n,), generator=generator)
            net(simulate(model, groups, obs, generator))
    infer_sim_seconds = time.perf_counter() - started

    result = {
        "torch_version": torch.__version__,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "blas": loaded_blas(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "mix": args.mix,
        "groups": groups,
        "obs": obs,
        "batch_size": args.batch_size,
        "n_params": n_params,
        "train_steps": args.steps,
        "train_seconds": round(train_seconds, 4),
        "train_datasets_per_s": round(train_rate, 2),
        "infer_datasets": args.infer,
        "infer_datasets_per_s": round(args.infer / infer_seconds, 2),
        "infer_with_sim_datasets_per_s": round(args.infer / infer_sim_seconds, 2),
    }

    result["loadavg_1min"] = round(os.getloadavg()[0], 2)

    if args.accuracy_steps > 0:
        torch.manual_seed(args.seed + 10)
        fresh = HierarchicalNetwork(mix=args.mix)
        trainer = OnlineTrainer(fresh, args.accuracy_steps, args.batch_size, groups=groups,
                                obs=obs, seed=args.seed + 11)
        started = time.perf_counter()
        for _ in range(args.accuracy_steps):
            trainer.step()
        result["accuracy_steps"] = args.accuracy_steps
        result["accuracy_train_seconds"] = round(time.perf_counter() - started, 2)
        fresh.eval()
        x, model = simulate_holdout(args.holdout, groups, obs, args.seed + 12)
        logits = predict(fresh, x, args.infer_batch)
        result["holdout"] = args.holdout
        result["holdout_accuracy"] = round((logits.argmax(dim=1) == model).double().mean().item(), 4)
        result["holdout_log_loss"] = round(F.cross_entropy(logits, model).item(), 4)

    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
