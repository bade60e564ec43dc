#!/usr/bin/python3
"""Measure PyTorch's speed on recur's benchmark workload, for cmd/bench --compare pytorch.

Workload: nn.Embedding(V, H) -> nn.LSTM, nn.GRU or nn.RNN (tanh), L layers of H units, time-major
-> nn.Linear(H, V) -> cross-entropy over random tokens; Adam (lr 2e-3), gradient norm
clipped at 5, truncated BPTT (the state of one chunk starts the next, detached).

Prints one JSON line: library, version (torch's), python (the Python release), blas (the BLAS
library loaded in the process, with OpenBLAS's configuration string where it is OpenBLAS),
device, precision, mode, threads, steps, seconds, tokens_per_s, ms_per_step, loss; or
{"error": ...} with exit status 3 when PyTorch is missing or the device is unavailable.
--version prints the line without measuring.

On a 2-core CPU bench runs it as
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 \
      /usr/bin/python3 scripts/torch_bench.py --threads 1 ...
"""
import argparse
import contextlib
import ctypes
import json
import platform
import sys
import time


def fail(message):
    print(json.dumps({"error": message}), flush=True)
    sys.exit(3)


def loaded_blas():
    """Return the BLAS libraries mapped into this process, as "path" or, for OpenBLAS,
    "configuration (path)"; "unknown" where /proc/self/maps cannot be read."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    except OSError:
        return "unknown"
    found = []
    for path in sorted(paths):
        if "cublas" in path or "nvblas" in path:
            continue
        described = path
        try:
            get_config = ctypes.CDLL(path).openblas_get_config
            get_config.restype = ctypes.c_char_p
            described = f"{get_config().decode()} ({path})"
        except (OSError, AttributeError):
            pass  # not OpenBLAS, or not loadable: report the path alone
        found.append(described)
    return "; ".join(found) or "none loaded"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["lstm", "gru", "rnn"], default="lstm", help="recurrent cell")
    p.add_argument("--hidden", type=int, default=512, help="H: units per layer and embedding width")
    p.add_argument("--layers", type=int, default=2, help="L: stacked recurrent layers")
    p.add_argument("--batch", type=int, default=64, help="B: parallel streams")
    p.add_argument("--seq", type=int, default=100, help="T: time steps per chunk")
    p.add_argument("--vocab", type=int, default=65, help="V: vocabulary size")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--seed", type=int, default=1, help="seed of the weights and tokens")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps PyTorch's default")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32",
                   help="CUDA matrix products: fp32, tf32, or bf16 autocast; the CPU runs fp32")
    p.add_argument("--infer", action="store_true", help="time forward passes without gradients")
    p.add_argument("--version", action="store_true", help="print the version line and exit")
    return p.parse_args()


def main():
    args = parse_args()
    try:
        import torch
        from torch import nn
    except ImportError as e:
        fail(f"PyTorch is not installed for {sys.executable}: {e}")

    base = {"library": "pytorch", "version": torch.__version__,
            "python": platform.python_version(), "blas": loaded_blas(), "device": args.device,
            "precision": args.precision, "mode": "infer" if args.infer else "train"}
    if args.version:
        print(json.dumps(base), flush=True)
        return
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        fail(f"device {args.device} requested but torch.cuda.is_available() is false")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        tf32 = args.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(args.seed)

    V, H, L, B, T = args.vocab, args.hidden, args.layers, args.batch, args.seq
    recurrent = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[args.model]
    embedding = nn.Embedding(V, H).to(device)
    rnn = recurrent(H, H, num_layers=L).to(device)
    head = nn.Linear(H, V).to(device)
    params = list(embedding.parameters()) + list(rnn.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()

    total = args.warmup + args.steps
    tokens = torch.randint(0, V, (total * T + 1, B), device=device)
    use_bf16 = device.type == "cuda" and args.precision == "bf16"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    state = None

    def forward(chunk):
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
        with autocast:
            out, new_state = rnn(embedding(chunk), state)
            return head(out), new_state

    def train_step(i):
        nonlocal state
        x = tokens[i * T:(i + 1) * T]
        y = tokens[i * T + 1:(i + 1) * T + 1]
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits, state = forward(x)
        loss = loss_fn(logits.float().reshape(T * B, V), y.reshape(T * B))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        return loss

    def infer_step(i):
        nonlocal state
        with torch.no_grad():
            logits, state = forward(tokens[i * T:(i + 1) * T])
        return None

    step = infer_step if args.infer else train_step
    for i in range(args.warmup):
        step(i)
    sync()
    start = time.perf_counter()
    loss = None
    for i in range(args.warmup, total):
        loss = step(i)
    sync()
    seconds = time.perf_counter() - start

    result = dict(base, threads=torch.get_num_threads(), steps=args.steps, seconds=seconds,
                  tokens_per_s=B * T * args.steps / seconds, ms_per_step=1e3 * seconds / args.steps,
                  loss=float(loss) if loss is not None else 0.0)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
