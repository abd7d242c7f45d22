"""Token sets: the calibration, eval and train token ids a study runs on, and the tokenizer they belong to.

A token set is a folder of ``{calibration,eval,train}.safetensors`` and a ``tokens.json`` manifest that
records the tokenizer's fingerprint and the text it came from; ``build`` makes one from a Hugging Face
dataset (streamed, or read from the local cache offline) or from local txt/jsonl/parquet files, and
``tokenset`` reads one and refuses it for a model whose tokenizer differs. 'embedded' is the embedded
default's token set.

May import: the ground floor, embedded/, model/, store/ and sae/ (an SAE's config names its defaults).
"""
