# ruff: noqa  (as run on 2026-12-03 afternoon, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json, bench/results/cpu-2vcpu-inception-96px-grad-ratio.txt)
"""Per-block relative gradient ||g||/||w|| at init and after 10 Nesterov steps: Inception-V3 at 96/160/299 px vs ResNet-18 at 96."""
import sys, numpy as np, torch, torch.nn.functional as F
from gxr.data import open_source, split_pixels
from gxr.nets.factory import create_model
torch.manual_seed(0)
src = open_source("folder:/work/shared/data/imagenette/imagenette_96px_q85.zip")
train = src.split("train")
idx = np.random.default_rng(0).permutation(len(train))[: 64 * 11]
sub = train.subset(idx)
arch, size = sys.argv[1], int(sys.argv[2])
x_all = torch.from_numpy(split_pixels(sub, 1, 96)).float().div(255).sub(0.5).div(0.5)
if size != 96:
    x_all = F.interpolate(x_all, size=(size, size), mode="bilinear", align_corners=False)
y_all = torch.from_numpy(np.asarray(sub.targets).astype(np.int64))
m = create_model(arch, 1, 10); m.train()
opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9, nesterov=True)
def group(n):
    top = n.split(".")[0]
    return top
for step in range(11):
    xb, yb = x_all[step*64:(step+1)*64], y_all[step*64:(step+1)*64]
    feats = {}
    h = (m.fc if hasattr(m, "fc") else None).register_forward_hook(lambda mod, i, o: feats.__setitem__("f", i[0].detach()))
    loss = F.cross_entropy(m(xb), yb, label_smoothing=0.1); h.remove()
    opt.zero_grad(); loss.backward()
    if step in (0, 10):
        g2, w2 = {}, {}
        for n, p in m.named_parameters():
            k = group(n); g2[k] = g2.get(k, 0) + float(p.grad.pow(2).sum()); w2[k] = w2.get(k, 0) + float(p.detach().pow(2).sum())
        f = feats["f"]
        print(f"{arch} {size}px step {step} loss {loss.item():.3f} |f|^2 per sample {float(f.pow(2).sum(1).mean()):.0f} dim {f.shape[1]}")
        print("   " + "  ".join(f"{k}:{(g2[k]**.5)/(w2[k]**.5+1e-12):.2e}" for k in g2))
    opt.step()
