#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that lstm/parity_test.go checks recur against.

For each cell (lstm, gru, rnn) it builds nn.Embedding -> nn.LSTM/nn.GRU/nn.RNN(tanh) ->
nn.Linear with PyTorch's default initialisation, runs one time-major chunk of random ids and
targets, and records the logits, the mean cross-entropy loss, every parameter's gradient,
and the weights after clip_grad_norm_(max_norm=0.5) and one Adam step (lr 0.01). The
weights are drawn and stored in float32. The reference values are computed in float64 from
those stored weights, then rounded to float32 on writing.

Run with a Python that has torch. The shebang names Debian's /usr/bin/python3, where
python3-torch installs it, because the python3 first on PATH may lack torch:

    scripts/make_torch_fixtures.py [OUTDIR]

OUTDIR defaults to lstm/testdata/torch. No safetensors package is needed: the format is
written here directly. make check-fixtures regenerates the fixtures into a temporary
directory and compares them byte for byte with the committed ones.
"""

import json
import os
import struct
import sys

import torch
import torch.nn as nn

LAYERS, VOCAB, EMBED, HIDDEN, T, B = 2, 7, 5, 6, 5, 3
LR, MAX_NORM = 0.01, 0.5
SEED = 20240601
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharModel(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED)
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        setattr(self, cell, CELLS[cell](EMBED, HIDDEN, num_layers=LAYERS, **kwargs))
        self.cell = cell
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, ids):
        x = self.embedding(ids)  # [T, B, E], time-major
        y, _ = getattr(self, self.cell)(x)  # zero initial state
        return self.head(y).reshape(T * B, VOCAB)


def write_safetensors(path, tensors, metadata):
    """Writes tensors, a list of (name, torch tensor), as safetensors. Floats become float32."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.int64:
            dtype, data = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def make(cell, outdir):
    model = CharModel(cell)  # default init, in float32
    ids = torch.randint(0, VOCAB, (T, B), dtype=torch.int64)
    targets = torch.randint(0, VOCAB, (T, B), dtype=torch.int64)
    model = model.double()  # exact, because every float32 is a float64

    names = [n for n, _ in model.named_parameters()]
    before = [(n, p.detach().clone()) for n, p in model.named_parameters()]

    logits = model(ids)
    loss = nn.functional.cross_entropy(logits, targets.reshape(-1))
    model.zero_grad()
    loss.backward()
    grads = [("grad." + n, p.grad.detach().clone()) for n, p in model.named_parameters()]

    nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_NORM)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    opt.step()
    after = [("after." + n, p.detach().clone()) for n, p in model.named_parameters()]

    tensors = before + [("ids", ids), ("targets", targets), ("logits", logits),
                        ("loss", loss)] + grads + after
    metadata = {
        "model": cell, "layers": str(LAYERS), "hidden": str(HIDDEN), "embed": str(EMBED),
        "vocab_size": str(VOCAB), "T": str(T), "B": str(B), "lr": str(LR),
        "max_norm": str(MAX_NORM), "optimizer": "adam", "params": ",".join(names),
        "torch": torch.__version__,
    }
    path = os.path.join(outdir, cell + ".safetensors")
    write_safetensors(path, tensors, metadata)
    print(f"{path}: loss {loss.item():.6f}, {os.path.getsize(path)} bytes")


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(script_dir, "..", "lstm", "testdata", "torch")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    for cell in ("lstm", "gru", "rnn"):
        make(cell, outdir)


if __name__ == "__main__":
    main()
