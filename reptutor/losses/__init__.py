r"""Losses: one module per method family; functions are the source of truth, modules wrap them."""
from reptutor.losses.byol import BYOLLoss, byol_loss, byol_momentum, ema_update
from reptutor.losses.scrl import SCRLLoss, scrl_loss
from reptutor.losses.contrastive import InfoNCELoss, NTXentLoss, info_nce_loss, nt_xent_loss
from reptutor.losses.supcon import (
    ClassConditionalInfoNCELoss,
    SupConLoss,
    class_conditional_info_nce_loss,
    supcon_loss,
)
from reptutor.losses.cmc import (
    CMC_GRAPHS,
    CMCLoss,
    CMCTerms,
    cmc_loss,
    cmc_terms,
    cross_view_prediction_loss,
    view_pairs,
)
from reptutor.losses.global_local import (
    GlobalLocalLoss,
    GlobalLocalTerms,
    global_contrastive_loss,
    global_local_loss,
    global_local_terms,
    local_contrastive_loss,
)
from reptutor.losses.gdt import (
    TRANSFORM_MODES,
    GDTLoss,
    GDTMasks,
    gdt_loss,
    gdt_masks,
    generalized_nce_loss,
    mask_conflicts,
)
from reptutor.losses.dim import (
    DeepInfoMaxLoss,
    DIMTerms,
    PriorMatchingTerms,
    dim_global_loss,
    dim_local_loss,
    dim_terms,
    prior_matching_terms,
)
from reptutor.losses.vicreg import (
    VICRegLoss,
    VICRegTerms,
    covariance_term,
    invariance_term,
    variance_term,
    vicreg_loss,
    vicreg_terms,
)
from reptutor.losses.barlow import (
    BarlowTwinsLoss,
    BarlowTwinsTerms,
    barlow_twins_loss,
    barlow_twins_terms,
    cross_correlation,
)
from reptutor.losses.mcr2 import (
    MCR2Loss,
    MCR2Terms,
    class_coding_rate,
    coding_rate,
    mcr2_loss,
    mcr2_terms,
)

from reptutor.losses.spectral import VICRegGraphTerms, vicreg_graph_loss, vicreg_graph_terms

__all__ = ["InfoNCELoss", "NTXentLoss", "info_nce_loss", "nt_xent_loss",
           "supcon_loss", "class_conditional_info_nce_loss", "SupConLoss",
           "ClassConditionalInfoNCELoss",
           "cmc_loss", "cmc_terms", "CMCTerms", "CMCLoss", "view_pairs", "CMC_GRAPHS",
           "cross_view_prediction_loss",
           "gdt_loss", "gdt_masks", "generalized_nce_loss", "mask_conflicts", "GDTLoss",
           "GDTMasks", "TRANSFORM_MODES",
           "VICRegLoss", "VICRegTerms", "vicreg_loss", "vicreg_terms", "invariance_term",
           "variance_term", "covariance_term",
           "dim_global_loss", "dim_local_loss", "dim_terms", "DIMTerms", "DeepInfoMaxLoss",
           "prior_matching_terms", "PriorMatchingTerms",
           "global_contrastive_loss", "local_contrastive_loss", "global_local_terms",
           "global_local_loss", "GlobalLocalTerms", "GlobalLocalLoss",
           "byol_loss", "BYOLLoss", "ema_update", "byol_momentum", "scrl_loss", "SCRLLoss",
           "barlow_twins_loss", "barlow_twins_terms", "BarlowTwinsTerms", "BarlowTwinsLoss",
           "cross_correlation",
           "coding_rate", "class_coding_rate", "mcr2_terms", "mcr2_loss", "MCR2Terms", "MCR2Loss",
           "vicreg_graph_loss", "vicreg_graph_terms", "VICRegGraphTerms"]
