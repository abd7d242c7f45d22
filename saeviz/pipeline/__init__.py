"""Running the experiment: the Workbench (loaded inputs and memoised artifacts, by composition), the
activation cache, compressed models from the cache, SAE variants, the evaluation runner (cached under
``store.keys``), the sweep, the feature jobs, the model summary and the demo-data builder.

May import: evals/, features/, sae/, model/, store/, compression/, embedded/ and below.
"""
