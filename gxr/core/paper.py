"""The published figures of Xie & Richmond (2018), "Pre-training on Grayscale ImageNet Improves Medical Image
Classification" (ECCV 2018 Workshops), Tables 1-4, carried as constants so every measured table can print them
beside gxr's numbers. Transcribed from the paper; the significance marks are the paper's (DeLong, gray vs color:
* p < 0.05, ** p < 0.01)."""

from __future__ import annotations

from dataclasses import dataclass

CITATION = "Xie & Richmond 2018, ECCV Workshops"


@dataclass(frozen=True)
class PaperLabel:
    label: str
    color_auc: float
    gray_auc: float
    significance: str       # the paper's mark for gray vs color: "", "*" or "**"


# Table 1: ImageNet validation, Inception-V3 trained from scratch on color vs gray (Luma) ImageNet.
IMAGENET_TOP1 = {"color": 0.7372, "gray": 0.7323}
IMAGENET_TOP5 = {"color": 0.9169, "gray": 0.9117}

# Table 2: NIH ChestX-ray14 test AUC per label, ImageNet-pretrained Inception-V3 fine-tuned at 299 px.
NIH_TABLE2 = (
    PaperLabel("Atelectasis", 0.7613, 0.7824, "**"),
    PaperLabel("Cardiomegaly", 0.7785, 0.8091, "*"),
    PaperLabel("Emphysema", 0.7898, 0.8393, "**"),
    PaperLabel("Effusion", 0.832, 0.8423, "*"),
    PaperLabel("Hernia", 0.6843, 0.7035, ""),
    PaperLabel("Infiltration", 0.6835, 0.6895, ""),
    PaperLabel("Mass", 0.7132, 0.7498, "**"),
    PaperLabel("Nodule", 0.6807, 0.7096, "**"),
    PaperLabel("Pneumonia", 0.6905, 0.7021, ""),
    PaperLabel("Pneumothorax", 0.8145, 0.8326, "*"),
    PaperLabel("Consolidation", 0.7489, 0.7606, ""),
    PaperLabel("Edema", 0.8689, 0.8784, ""),
    PaperLabel("Fibrosis", 0.731, 0.7454, ""),
    PaperLabel("Pleural_Thickening", 0.7204, 0.7452, "*"),
)
NIH_MEAN_AUC = {"color": 0.7498, "gray": 0.7706}

# Table 3: Indiana University chest X-rays, normal vs abnormal (difference not significant in the paper).
INDIANA = {"color": {"accuracy": 0.7225, "auc": 0.7124}, "gray": {"accuracy": 0.7262, "auc": 0.7285}}

# Table 4: ms/image at inference on a GTX 1080 Ti (batch size and what the timing includes are not stated).
MS_PER_IMAGE = {"NIH": {"color": 8.0, "gray": 6.4}, "Indiana": {"color": 7.5, "gray": 7.1}}
HARDWARE = "GTX 1080 Ti"


def nih_label(label: str) -> PaperLabel | None:
    return next((row for row in NIH_TABLE2 if row.label == label), None)
