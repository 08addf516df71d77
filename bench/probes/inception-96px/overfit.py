# ruff: noqa  (as run on 2026-12-03 afternoon, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json, bench/results/cpu-2vcpu-inception-96px-grad-ratio.txt)
"""Sanity: can the model memorise 4 fixed batches of 64 real Imagenette images in train mode (fp32, Nesterov)?"""
import sys, numpy as np, torch, torch.nn.functional as F
from gxr.data import open_source, split_pixels
from gxr.nets.factory import create_model
torch.manual_seed(0)
src = open_source("folder:/work/shared/data/imagenette/imagenette_96px_q85.zip")
train = src.split("train")
sub = train.subset(np.random.default_rng(0).permutation(len(train))[:256])
arch, size, variant, lr = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
x = torch.from_numpy(split_pixels(sub, 1, 96)).float().div(255).sub(0.5).div(0.5)
if size != 96: x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
y = torch.from_numpy(np.asarray(sub.targets).astype(np.int64))
m = create_model(arch, 1, 10)
if "nodrop" in variant: m.dropout.p = 0.0
if "zerofc" in variant: torch.nn.init.zeros_(m.fc.weight); torch.nn.init.zeros_(m.fc.bias)
opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, nesterov=True) if "adam" not in variant else torch.optim.Adam(m.parameters(), lr=lr)
out = []
for step in range(60):
    m.train(); b = step % 4
    loss = F.cross_entropy(m(x[b*64:(b+1)*64]), y[b*64:(b+1)*64]); opt.zero_grad(); loss.backward(); opt.step()
    if step % 4 == 3: out.append(round(loss.item(), 2))
m.eval()
with torch.no_grad(): acc = float((m(x).argmax(1) == y).float().mean())
print(arch, size, variant, lr, "train losses", out, "eval-mode acc on the 256", round(acc, 3), flush=True)
