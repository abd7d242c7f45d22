"""Per-latent statistics of one SAE variant (top-activating contexts, densities, logit effects, concepts)
and matching latents across variants: pure functions of activations and weights.

May import: sae/, model/ and below.
"""
