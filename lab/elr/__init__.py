"""Early-learning regularisation (Liu et al. 2020, ELR and ELR+): the loss and its
per-example targets (:mod:`.loss`), the ELR+ pieces (:mod:`.plus`), the memorisation
measurements of the paper's Figures 1-2 (:mod:`.memorization`) and its Table 1
(:mod:`.table`)."""
