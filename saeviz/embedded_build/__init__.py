"""Building the embedded default from scratch: corpus -> tokenizer -> data -> model -> SAEs -> manifest,
and measuring its figures (`python -m saeviz build-embedded`, `embedded-report`). The assets' reader is
``saeviz.embedded``; this builder may import it and sae/, model/, evals/.
"""
