"""JAX (+ jax.experimental.jet, diffrax, optax) on the MNIST dynamics of benchmarks/cuda/gpu_bench.cu,
float32, the same figures and JSON lines, for the ratios in benchmarks/RESULTS.md.

Dynamics: sigmoid -> [t, .] -> Linear(785 -> 100) -> sigmoid -> [t, .] -> Linear(101 -> 784), haiku
initialization (truncated normal, std 1/sqrt(fan_in), zero bias), initial states uniform [0, 1].
Taylor coefficients: the paper's recursion, K - 1 nested jet calls after one evaluation.
Training step: loss 0.5 * mean_b ||z1 - y||^2 + lam * mean_b R_K, R_K integrated as an augmented
state (the reference code's construction), gradient by jax.grad, one optax Adam update, all in one
jit. RK4 x 4: a hand-written classical RK4 on a fixed grid (diffrax has no classical RK4);
Dopri5 1e-5: diffrax.diffeqsolve (RecursiveCheckpointAdjoint = backprop, BacksolveAdjoint = adjoint).

usage: python3 jax_mnist.py [--quick]
"""
import json
import os
import sys

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.experimental import jet  # noqa: E402

from common import guarded, median_seconds, set_quick  # noqa: E402

BACKEND = "jax"


def sync(out):
    jax.block_until_ready(out)


def init_params(key, dim=784, hidden=100):
    k1, k2 = jax.random.split(key)
    w1 = jax.random.truncated_normal(k1, -2.0, 2.0, (dim + 1, hidden), jnp.float32) / jnp.sqrt(dim + 1.0)
    w2 = jax.random.truncated_normal(k2, -2.0, 2.0, (hidden + 1, dim), jnp.float32) / jnp.sqrt(hidden + 1.0)
    return (w1, jnp.zeros((hidden,), jnp.float32), w2, jnp.zeros((dim,), jnp.float32))


def dynamics(params, t, z):
    w1, b1, w2, b2 = params
    tt = jnp.ones((z.shape[0], 1), z.dtype) * t
    h = jax.nn.sigmoid(z)
    h = jnp.concatenate([tt, h], axis=1) @ w1 + b1
    h = jax.nn.sigmoid(h)
    return jnp.concatenate([tt, h], axis=1) @ w2 + b2


def derivatives(params, t, z, K):
    """[z', z'', ..., z^(K)] along the solution through (t, z): one evaluation, then K - 1 jets."""
    f = lambda z_, t_: dynamics(params, t_, z_)  # noqa: E731
    t = jnp.asarray(t, z.dtype)
    x1 = f(z, t)
    zs, ts = [x1], [jnp.ones_like(t)]
    for _ in range(1, K):
        _, ys = jet.jet(f, (z, t), (zs, ts))
        zs = [x1] + list(ys)
        ts = ts + [jnp.zeros_like(t)]
    return zs


def augmented(params, K, lam):
    """(z, r)' = (f(t, z), ||z^(K)||^2 per trajectory); K = 0: r' = 0."""

    def field(t, y):
        z, _ = y
        if K == 0:
            return dynamics(params, t, z), jnp.zeros((z.shape[0],), z.dtype)
        ds = derivatives(params, t, z, K)
        return ds[0], lam * jnp.sum(ds[K - 1] ** 2, axis=1)

    return field


def rk4(field, y, t0, t1, n):
    h = (t1 - t0) / n
    axpy = lambda y_, a, k: jax.tree_util.tree_map(lambda u, v: u + a * v, y_, k)  # noqa: E731
    for i in range(n):
        t = t0 + i * h
        k1 = field(t, y)
        k2 = field(t + h / 2, axpy(y, h / 2, k1))
        k3 = field(t + h / 2, axpy(y, h / 2, k2))
        k4 = field(t + h, axpy(y, h, k3))
        y = jax.tree_util.tree_map(lambda u, a, b, c, d: u + h / 6 * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)
    return y


def main():
    quick = "--quick" in sys.argv
    set_quick(quick)
    import diffrax
    import optax

    dev = jax.devices()[0]
    print(json.dumps({"baseline": "jax", "version": jax.__version__, "diffrax": getattr(diffrax, "__version__", "?"),
                      "device": dev.device_kind}), flush=True)
    params = init_params(jax.random.PRNGKey(1))
    batches = [100] if quick else [100, 1000, 10000]
    t = jnp.float32(0.5)
    for B in batches:
        z = jax.random.uniform(jax.random.PRNGKey(2), (B, 784), jnp.float32)
        f = jax.jit(dynamics)
        guarded("f_eval", BACKEND, "float", B, "", lambda: (median_seconds(lambda: f(params, t, z), sync), 1))
        for K in (range(1, 7) if B == 100 else [3]):
            g = jax.jit(derivatives, static_argnums=3)
            guarded("coefficients", BACKEND, "float", B, f"K={K}",
                    lambda: (median_seconds(lambda: g(params, t, z, K), sync), K))
        if B <= 1000:
            term = diffrax.ODETerm(lambda t_, y, args: dynamics(args, t_, y))

            @jax.jit
            def solve(p, z0):
                sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), t0=0.0, t1=1.0, dt0=None, y0=z0, args=p,
                                          stepsize_controller=diffrax.PIDController(rtol=1.4e-8, atol=1.4e-8),
                                          max_steps=100000, throw=False)
                return sol.ys, sol.stats["num_steps"], sol.result

            def run_solve():
                ys, steps, _ = solve(params, z)
                sync(ys)  # steps = 100000 would mean the solve did not finish
                return median_seconds(lambda: solve(params, z)[0], sync), int(steps)

            # nfe column: diffrax's num_steps (accepted + rejected); Dopri5 costs 6 evaluations each.
            guarded("dopri5_solve", "diffrax", "float", B, "rtol=atol=1.4e-8 (nfe = steps)", run_solve)

    # One training step at B = 100.
    B = 100
    z0 = jax.random.uniform(jax.random.PRNGKey(2), (B, 784), jnp.float32)
    target = jax.random.uniform(jax.random.PRNGKey(3), (B, 784), jnp.float32)
    opt = optax.adam(1e-4)
    lam = 1e-2

    def make_step(solve_aug):
        def loss_fn(p):
            z1, r1 = solve_aug(p)
            return 0.5 * jnp.mean(jnp.sum((z1 - target) ** 2, axis=1)) + jnp.mean(r1)

        @jax.jit
        def step(p, state):
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, state = opt.update(grads, state, p)
            return optax.apply_updates(p, updates), state, loss

        return step

    def time_step(step):
        p, state = params, opt.init(params)
        holder = [p, state]

        def one():
            holder[0], holder[1], loss = step(holder[0], holder[1])
            return loss

        return median_seconds(one, sync), -1

    r0 = jnp.zeros((B,), jnp.float32)
    for K in (0, 2, 3):
        name = "none" if K == 0 else f"R{K}"
        rk4_step = make_step(lambda p, K=K: rk4(augmented(p, K, lam), (z0, r0), 0.0, 1.0, 4))
        guarded("training_step", BACKEND, "float", B, f"RK4x4 | {name} | backprop", lambda: time_step(rk4_step))
        for adjoint_name, adjoint in (("backprop", diffrax.RecursiveCheckpointAdjoint()),
                                      ("adjoint", diffrax.BacksolveAdjoint())):
            if K == 2 or (adjoint_name == "adjoint" and K != 0):
                continue  # compile time: diffrax + jet under grad takes tens of seconds per variant

            def solve_aug(p, K=K, adjoint=adjoint):
                # The parameters travel in args: BacksolveAdjoint differentiates args, not closures.
                term = diffrax.ODETerm(lambda t_, y, args: augmented(args, K, lam)(t_, y))
                sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), t0=0.0, t1=1.0, dt0=None, y0=(z0, r0), args=p,
                                          stepsize_controller=diffrax.PIDController(rtol=1e-5, atol=1e-5),
                                          max_steps=4096, adjoint=adjoint)
                return sol.ys[0][-1], sol.ys[1][-1]

            d_step = make_step(solve_aug)
            guarded("training_step", "diffrax", "float", B, f"Dopri5 1e-5 | {name} | {adjoint_name}",
                    lambda: time_step(d_step))


if __name__ == "__main__":
    main()
