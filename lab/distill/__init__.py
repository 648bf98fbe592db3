"""Knowledge distillation with noise (SCIENCE.md sections 2 and 6).

``losses``       Hinton's KD loss and squared error on logits
``logit_noise``  fresh Gaussian noise and symmetric swaps of the teacher's logits
``grad_norm``    average per-sample network gradient norm, via torch.func
``robustness``   accuracy under Gaussian input noise and under a PGD l_inf attack
``teachers``     teachers are finished runs: loading, hashing and checking their weights
``methods``      one training loss per distillation method
"""
