"""The token set in use (its tokenizer, text and rows) and a background job that builds one for the
sidebar's model from real text; the sidebar's "Token sets" switches to it when the job is done."""

from __future__ import annotations

import re

import streamlit as st

from saeviz.errors import SaevizError
from saeviz.specs import TextSource, TokenSetSpec, spec_help
from ui import jobs

SAME = "the same text"


def _use(folder: str) -> None:
    st.session_state["tokens_source"] = folder  # a callback: runs before the sidebar's widget is drawn


def _current(bench) -> None:
    # lazy: saeviz.tokens.tokenset pulls in torch, which importing ui.tokens_view does without
    from saeviz.tokens.tokenset import check_tokenizer, manifest

    try:
        info = manifest(bench.tokens_source)
        check_tokenizer(bench.tokens_source, bench.tokenizer_fingerprint(), bench.model_spec.name)
    except SaevizError as exc:
        st.error(str(exc))  # said before any job runs on ids the model would misread
        return
    fp, source = info["tokenizer"], info.get("source", {})
    rows = ", ".join(f"{v['rows']:,} {k}" for k, v in info.get("splits", {}).items())
    st.caption(f"In use: `{bench.tokens_source}`: {rows + ' rows, ' if rows else ''}text from "
               f"{source.get('description') or source.get('dataset', '?')}; tokenizer {fp['name']} "
               f"(vocabulary {fp['vocab_size']:,}, BOS {fp['bos']}, EOS {fp['eos']}).")


def _default_text(bench) -> str:
    """The SAEs' training dataset, as sae_lens records it (OpenWebText for the GPT-2 releases)."""
    if bench.model_spec.is_embedded:
        return ""
    # lazy: saeviz.sae.load pulls in torch, which importing ui.tokens_view does without
    from saeviz.sae.load import sae_config

    try:
        return str(sae_config(bench.sae_spec(bench.sites()[0], 0)).get("dataset_path") or "")
    except (SaevizError, ValueError):
        return ""


def token_set_panel(bench) -> None:
    _current(bench)
    with st.expander("Build a token set for this model from real text"):
        text = st.text_input("Text", value=_default_text(bench), key="ts_text", help=spec_help(TextSource, "dataset"))
        calibration = st.selectbox("Calibration text", [SAME, "c4"], key="ts_calib",
                                   help="WANDA's paper calibrates on C4; the paper on OpenWebText, like the SAEs.")
        c = st.columns(3)
        n_cal = c[0].number_input("Calibration rows", 1, 100_000, TokenSetSpec.n_calibration, key="ts_ncal")
        n_eval = c[1].number_input("Eval rows", 1, 1_000_000, TokenSetSpec.n_eval, key="ts_neval")
        train = c[2].number_input("Train tokens", 0, 10**10, TokenSetSpec.train_tokens, step=100_000, key="ts_train",
                                  help=spec_help(TokenSetSpec, "train_tokens"))
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{bench.model_spec.name}-{text}".strip("/")).strip("-")[:80] or "tokens"
        folder = str(bench.store.root / "tokens" / slug)
        st.caption(f"Written to `{folder}`; context length and BOS as the SAEs of the sidebar were trained.")
        key = f"tokens:{folder}"
        if st.button("Build the token set", key="ts_run", disabled=not text.strip() or bench.model_spec.is_embedded,
                     help="The embedded model ships its token set." if bench.model_spec.is_embedded else None):
            spec = TokenSetSpec(model=bench.model_spec.name, text=TextSource(dataset=text.strip()),
                                calibration_text=None if calibration == SAME else TextSource(dataset=calibration),
                                sae=bench.sae_spec(bench.sites()[0], 0).label(), n_calibration=int(n_cal),
                                n_eval=int(n_eval), train_tokens=int(train))

            def work(progress):
                # lazy: saeviz.tokens.build pulls in torch, which importing ui.tokens_view does without
                from saeviz.tokens.build import build_token_set

                build_token_set(spec, folder, progress)

            jobs.start(key, f"token set {slug}", work)
        job = jobs.job_panel(key)
        if job is not None and job.status == "done" and bench.tokens_source != folder:
            st.button(f"Use {slug}", key="ts_use", type="primary", on_click=_use, args=(folder,))

