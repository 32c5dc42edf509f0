"""PyTorch + torchdiffeq on the MNIST dynamics of benchmarks/cuda/gpu_bench.cu, float32, the same
figures and JSON lines (see jax_mnist.py for the model). torchdiffeq has no Taylor mode, so only
the unregularized figures: one evaluation, a dopri5 solve at rtol = atol = 1.4e-8, and one training
step (rk4 on a fixed grid of 4 steps and dopri5 1e-5 by backprop, dopri5 1e-5 by odeint_adjoint)
with one Adam update.

usage: python3 torch_mnist.py [--quick]
"""
import json
import sys

import torch
from torch import nn

from common import guarded, median_seconds, set_quick

BACKEND = "torchdiffeq"


def sync(_out):
    torch.cuda.synchronize()


class Dynamics(nn.Module):
    def __init__(self, dim=784, hidden=100):
        super().__init__()
        self.l1 = nn.Linear(dim + 1, hidden)
        self.l2 = nn.Linear(hidden + 1, dim)
        for layer in (self.l1, self.l2):  # haiku's initialization, as in jax_mnist.py
            nn.init.trunc_normal_(layer.weight, std=1.0, a=-2.0, b=2.0)
            with torch.no_grad():
                layer.weight /= layer.in_features ** 0.5
            nn.init.zeros_(layer.bias)
        self.nfe = 0

    def forward(self, t, z):
        self.nfe += 1
        tt = torch.ones(z.shape[0], 1, device=z.device, dtype=z.dtype) * t
        h = torch.sigmoid(z)
        h = torch.sigmoid(self.l1(torch.cat([tt, h], 1)))
        return self.l2(torch.cat([tt, h], 1))


def main():
    quick = "--quick" in sys.argv
    set_quick(quick)
    import torchdiffeq

    dev = torch.device("cuda")
    try:
        torch.backends.cuda.matmul.allow_tf32 = False  # the same arithmetic as ours (TF32 off)
    except Exception:  # noqa: BLE001 - newer releases: fp32_precision
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    print(json.dumps({"baseline": "torch", "version": torch.__version__,
                      "torchdiffeq": getattr(torchdiffeq, "__version__", "?"),
                      "device": torch.cuda.get_device_name(0)}), flush=True)
    torch.manual_seed(1)
    f = Dynamics().to(dev)
    t = torch.tensor(0.5, device=dev)
    for B in ([100] if quick else [100, 1000, 10000]):
        z = torch.rand(B, 784, device=dev)
        with torch.no_grad():
            guarded("f_eval", "torch", "float", B, "", lambda: (median_seconds(lambda: f(t, z), sync), 1))
            if B <= 1000:
                ts = torch.tensor([0.0, 1.0], device=dev)

                def run_solve():
                    f.nfe = 0
                    torchdiffeq.odeint(f, z, ts, method="dopri5", rtol=1.4e-8, atol=1.4e-8)
                    nfe = f.nfe
                    return median_seconds(
                        lambda: torchdiffeq.odeint(f, z, ts, method="dopri5", rtol=1.4e-8, atol=1.4e-8), sync), nfe

                guarded("dopri5_solve", BACKEND, "float", B, "rtol=atol=1.4e-8", run_solve)

    B = 100
    z0 = torch.rand(B, 784, device=dev)
    target = torch.rand(B, 784, device=dev)
    ts = torch.tensor([0.0, 1.0], device=dev)
    opt = torch.optim.Adam(f.parameters(), lr=1e-4)
    configs = [("RK4x4 | none | backprop", torchdiffeq.odeint, dict(method="rk4", options=dict(step_size=0.25))),
               ("Dopri5 1e-5 | none | backprop", torchdiffeq.odeint, dict(method="dopri5", rtol=1e-5, atol=1e-5)),
               ("Dopri5 1e-5 | none | adjoint", torchdiffeq.odeint_adjoint,
                dict(method="dopri5", rtol=1e-5, atol=1e-5))]
    for detail, integrate, kw in configs:
        def step(integrate=integrate, kw=kw):
            opt.zero_grad(set_to_none=True)
            z1 = integrate(f, z0, ts, **kw)[-1]
            loss = 0.5 * ((z1 - target) ** 2).sum(1).mean()
            loss.backward()
            opt.step()
            return loss

        def run(step=step):
            f.nfe = 0
            step()
            nfe = f.nfe
            return median_seconds(step, sync), nfe

        guarded("training_step", BACKEND, "float", B, detail, run)


if __name__ == "__main__":
    main()
